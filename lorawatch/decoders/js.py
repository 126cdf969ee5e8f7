"""Vendor JavaScript codecs, run unmodified in a QuickJS sandbox (the ``js`` decoder).

Most vendors publish a JavaScript codec before anything else, so a commune can put a device
in service before lorawatch has a native decoder for it: the inventory names the codec file,
and this decoder runs it the way ChirpStack v4 does (QuickJS, a time and a memory limit per
call). It accepts a LoRa Alliance TS013 codec (``decodeUplink(input)`` with ``{bytes, fPort,
recvTime, variables}``, returning ``{data, warnings?, errors?}``, and TTN's ``normalizeUplink``
when present), else a ChirpStack v3 codec (``Decode(fPort, bytes, variables)`` returning the
data), else a The Things Network v2 codec (``Decoder(bytes, port)``, which The Things Stack
still runs). The codec is a file (``codec``) or a device of a local copy of TTN's Device
Repository (``repository`` and ``device = "vendor/model"``, see repository.py).

The engine is QuickJS-ng (PyPI ``quickjs-ng``, imported as ``quickjs``), the maintained fork
of the QuickJS that ChirpStack uses: the original binding (PyPI ``quickjs``) crashes the whole
process when a codec runs out of memory while growing an array, which a sandbox cannot allow.

The sandbox: each context gets a Node-compatible subset of ``Buffer`` and a ``console`` that
discards everything (js_prelude.js), and nothing else beyond ECMAScript and a few inert web
globals (``atob``, ``performance.now``): no ``require``, no modules (``import`` is a syntax
error, dynamic ``import()`` finds no loader), no ``fetch``, no ``std``/``os``, no file or
network access. Decoding is synchronous: promise jobs and microtasks are never run. A codec
that runs past its time limit or allocates past its memory limit is stopped; the uplink gets
an error and the context is rebuilt for the next one, so a bad codec or frame costs one
uplink, never the service.

Isolation: every call starts from the codec's pristine state, as ChirpStack's fresh runtime
per call does. The codec is compiled once as the body of a factory function; each call runs
the factory (so the codec's top-level variables and objects are new), calls the entry point,
then puts the global object back (added globals deleted, replaced ones restored) and removes
properties assigned to the built-ins (Object, Array, Math, JSON, Buffer, their prototypes...;
a non-enumerable property defined on one is not seen, nor a replaced built-in method). A codec that leaves state that cannot be undone gets a new
context. Building a whole QuickJS context per call would cost milliseconds; this costs a few
tens of µs (bench/decode.py measures it). Dates are in UTC whatever the host's time zone.

Contexts: one per (codec file, limits, thread), created on first use and kept. QuickJS
runtimes must not be used from two threads (the binding releases the GIL while JS runs), so
each thread has its own, in a ``threading.local``; no lock is needed and threads decode in
parallel. Codecs never share a context. A changed codec file is read again only when a
context is rebuilt (after a limit was hit) or by a new process.

The codec file, the repository and the limits come from the operator's inventory only:
ChirpStack device tags may choose ``device`` (a model of the declared repository), never a
file nor a limit (:attr:`Param.from_tags`).

The time limit counts CPU time through C ``clock()``, which is process-wide: under heavy
parallel load a codec is stopped a little earlier than its nominal limit, never later.

Source: LoRa Alliance TS013-1.0.0 "Payload Codec API"; ChirpStack v4 documentation, "Device
profiles > Codec" (QuickJS, 100 ms default limit, Buffer); ChirpStack v3 "Custom JavaScript
codec functions"; The Things Stack documentation, "JavaScript payload formatters" (v2
``Decoder``, ``normalizeUplink``).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final

import orjson

from lorawatch.core.errors import DecodeError
from lorawatch.core.readings import CANONICAL, Kind, Reading
from lorawatch.decoders import repository
from lorawatch.decoders.base import Decoder, DecodeResult, Param, Params, Uplink
from lorawatch.decoders.registry import register


def _engine() -> Any:
    """The QuickJS binding (the quickjs-ng distribution), imported when a codec first needs
    it: the import starts a thread of the binding's own (for a helper lorawatch does not use)
    and holds ~3.5 MB, which a service without a JavaScript codec need not, and a thread that
    allocates before the service caps the allocator's heaps fixes their number
    (:func:`lorawatch.core.memory.limit_arenas`)."""
    # lazy: a thread and ~3.5 MB at import, for services with a JavaScript codec only
    import quickjs  # type: ignore[import-untyped]

    return quickjs


DEFAULT_TIME_LIMIT_MS: Final = 100.0
DEFAULT_MEMORY_LIMIT_MB: Final = 16.0
_PRELUDE: Final = (Path(__file__).parent / "js_prelude.js").read_text(encoding="utf-8")

# Created before the codec is evaluated, so the codec cannot replace what it uses. ``install``
# compiles the codec once as the body of a factory function; every call runs the factory
# afresh (the codec's top-level declarations and objects are new for each uplink), calls the
# entry point it returns, then puts the global object and the built-in prototypes back as
# they were: a property the codec added is deleted, one it replaced is restored. So nothing a
# codec keeps, on purpose or by accident (a top-level result object, an undeclared variable),
# reaches the next uplink, of the same device or another. When a property cannot be put back
# (the codec made it non-configurable) the answer says so and the context is rebuilt.
# BigInt values (readBigUInt64LE) become numbers when exact, else decimal strings.
_RUNNER: Final = """(function () {
  var parse = JSON.parse, stringify = JSON.stringify, isSafe = Number.isSafeInteger;
  var keysOf = Object.getOwnPropertyNames, describe = Object.getOwnPropertyDescriptor;
  var define = Object.defineProperty, hasOwn = Object.prototype.hasOwnProperty;
  var isExtensible = Object.isExtensible, ACCESSOR = {};
  var geval = eval, toText = Function.prototype.toString, G = globalThis;
  var guarded = [G, Object, Object.prototype, Array, Array.prototype, String.prototype,
    Number.prototype, Boolean.prototype, Function.prototype, Date, Date.prototype,
    RegExp.prototype, Math, JSON, Buffer, Buffer.prototype, Uint8Array.prototype,
    Error.prototype, Symbol.prototype, Map.prototype, Set.prototype];
  // The global object is checked property by property (a replaced global is put back); the
  // built-ins only for properties the codec added. Both look for added enumerable properties:
  // an assignment makes one, and built-ins have none (a property added with defineProperty as
  // non-enumerable is not seen).
  var full = [G];
  function snapshot(obj) {
    var names = keysOf(obj), descs = [], values = [];
    for (var i = 0; i < names.length; i++) {
      descs.push(describe(obj, names[i]));
      values.push("value" in descs[i] ? descs[i].value : ACCESSOR);
    }
    var light = full.indexOf(obj) < 0;
    for (var key in obj) if (hasOwn.call(obj, key)) light = false;
    return {obj: obj, names: names, descs: descs, values: values, light: light,
            saved: names.reduce(function (s, n) { s[n] = true; return s; }, {})};
  }
  function same(a, b) {
    return a.value === b.value && a.get === b.get && a.set === b.set &&
      a.writable === b.writable && a.enumerable === b.enumerable &&
      a.configurable === b.configurable;
  }
  function untouched(snap) {
    var obj = snap.obj, names = snap.names, values = snap.values;
    if (snap.light) {
      for (var key in obj) if (hasOwn.call(obj, key)) return false;
      return isExtensible(obj);
    }
    for (var added in obj) if (hasOwn.call(obj, added) && !hasOwn.call(snap.saved, added)) return false;
    if (!isExtensible(obj)) return false;
    var value, now;
    for (var i = 0; i < names.length; i++) {
      if (values[i] === ACCESSOR) {
        now = describe(obj, names[i]);
        if (!now || now.get !== snap.descs[i].get || now.set !== snap.descs[i].set) return false;
        continue;
      }
      value = obj[names[i]];
      if (value !== values[i] && value === value) return false;
    }
    return true;
  }
  function restore(snap) {
    var obj = snap.obj, names = keysOf(obj), i, now;
    if (!isExtensible(obj)) return false;
    for (i = 0; i < names.length; i++) {
      if (!hasOwn.call(snap.saved, names[i]) && !delete obj[names[i]]) return false;
    }
    for (i = 0; i < snap.names.length; i++) {
      now = describe(obj, snap.names[i]);
      if (now === undefined || !same(now, snap.descs[i])) {
        try { define(obj, snap.names[i], snap.descs[i]); } catch (e) { return false; }
      }
    }
    return true;
  }
  function bigints(key, value) {
    if (typeof value !== "bigint") return value;
    return isSafe(Number(value)) ? Number(value) : String(value);
  }
  return function install(source) {
    var body = "function () {" + source + "\\n;return [" +
      "typeof decodeUplink === 'function' ? decodeUplink : null, " +
      "typeof Decode === 'function' ? Decode : null, " +
      "typeof Decoder === 'function' ? Decoder : null, " +
      "typeof normalizeUplink === 'function' ? normalizeUplink : null];\\n}";
    var factory = geval("(" + body + ")");
    // Braces that close the factory early would leave code (and state) outside it.
    if (toText.call(factory) !== body) {
      throw new SyntaxError("the codec is not a self-contained script (unbalanced braces)");
    }
    var snaps = guarded.map(snapshot);
    var tainted = false;
    function clean() {
      for (var i = 0; i < snaps.length; i++) {
        if (!untouched(snaps[i]) && !restore(snaps[i])) tainted = true;
      }
      return !tainted;
    }
    var entries;
    try {
      entries = factory.call(G);
    } finally {
      clean();
    }
    var version = entries[0] ? 4 : entries[1] ? 3 : entries[2] ? 2 : 0;
    function run(text) {
      if (text === "tainted?") return tainted;
      if (text === "version?") return version;
      var input = parse(text), fresh, out, normalized = null;
      try {
        fresh = factory.call(G);
        if (fresh[0]) {
          out = fresh[0]({bytes: input.bytes, fPort: input.fPort,
                          recvTime: new Date(input.recvTime), variables: input.variables});
          if (fresh[3] && out && typeof out === "object" && out.data && !(out.errors &&
              out.errors.length)) {
            try {
              normalized = fresh[3]({data: out.data});
            } catch (e) {
              normalized = {errors: [String(e)]};
            }
          }
        } else if (fresh[1]) {
          out = fresh[1](input.fPort, input.bytes, input.variables);
        } else {
          out = fresh[2](input.bytes, input.fPort);
        }
      } finally {
        clean();
      }
      return stringify([version, out === undefined ? null : out, normalized, tainted], bigints);
    }
    return run;
  };
})()"""
# QuickJS messages of the failures after which a context is not trusted again.
_INTERRUPTED = "InternalError: interrupted"
_OUT_OF_MEMORY = "InternalError: out of memory"
# When memory is so short that QuickJS cannot build the error object, the exception is null or
# uninitialized instead; a codec throwing null itself is reported the same way, harmlessly.
_OUT_OF_MEMORY_BARE = frozenset({"null", "[uninitialized]", ""})
# The binding evaluates everything as "<input>"; a location is shown as "line N:COLUMN".
_LOCATION = re.compile(r"<input>:(\d+(?::\d+)?)")


_ENTRY_NAMES: Final = {4: "decodeUplink", 3: "Decode", 2: "Decoder"}


@dataclass(slots=True)
class _Sandbox:
    context: Any
    runner: Any


def _js_message(exc: BaseException) -> str:
    """First line of a QuickJS exception plus the innermost codec frame, with its line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return ""
    where = next((line for line in lines[1:] if line.startswith("at ")), "")
    where = _LOCATION.sub(r"line \1", where)
    return f"{lines[0]} ({where})" if where and where != "undefined" else lines[0]


def _normalized(out: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The measurements of a ``normalizeUplink`` answer (one object or a list of them), and
    its errors and warnings as problems; an answer with errors gives no measurement."""
    problems = _strings(out.get("errors")) + _strings(out.get("warnings"))
    if out.get("errors"):
        return [], problems
    data = out.get("data")
    items = data if isinstance(data, list) else [data]
    kept = [item for item in items if isinstance(item, dict)]
    if len(kept) != len(items):
        problems.append(f"ignored {len(items) - len(kept)} measurement(s) that are not objects")
    return kept, problems


def _strings(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [v if isinstance(v, str) else orjson.dumps(v).decode() for v in value]
    return [value if isinstance(value, str) else orjson.dumps(value).decode()]


def script_of(params: Params) -> Path:
    """The JS file a device's parameters select: ``codec`` (a .js file or a codec YAML), or
    the codec of ``device`` in ``repository``; ValueError naming the problem."""
    codec, repo, device = (params.get(k) for k in ("codec", "repository", "device"))
    if isinstance(device, str) and device.strip():
        if codec:
            raise ValueError("give either 'codec' or 'repository' and 'device', not both")
        if not isinstance(repo, str) or not repo.strip():
            raise ValueError(
                f"'device' {device!r} needs 'repository': the folder of a copy of TTN's "
                "Device Repository"
            )
        try:
            return repository.Repository(repo).codec_of(device.strip()).script
        except repository.RepositoryError as exc:
            raise ValueError(str(exc)) from None
    if not isinstance(codec, str) or not codec.strip():
        raise ValueError(
            "the js decoder needs its 'codec' parameter (path of a .js file or codec YAML), "
            "or 'repository' and 'device'"
        )
    path = Path(codec).expanduser().resolve()
    if path.suffix.lower() in {".yaml", ".yml"}:
        try:
            return repository.load_codec(path).script
        except repository.RepositoryError as exc:
            raise ValueError(str(exc)) from None
    return path


@register
class JSCodec(Decoder):
    """Runs one vendor JavaScript codec file; see the module docstring for the sandbox.

    The registry's shared ``js`` instance has no codec: the pipeline calls :meth:`bind` with
    the device's inventory parameters and decodes with the instance it returns (shared by every
    device naming the same codec file and limits; no state is: every call starts afresh).
    """

    name = "js"
    vendor = "any"
    device = "vendor JS codec"
    family = "generic"
    readings = tuple(CANONICAL)
    parameters: ClassVar[Mapping[str, Param]] = {
        "codec": Param(
            "the vendor's codec: a .js file (TS013 decodeUplink, ChirpStack v3 Decode or TTN v2 "
            "Decoder) or a Device Repository codec .yaml; relative to the inventory file",
            str,
            from_tags=False,
            path=True,
        ),
        "repository": Param(
            "folder of a local copy of TTN's Device Repository (lorawan-devices), relative to "
            "the inventory file; with 'device'",
            str,
            from_tags=False,
            path=True,
        ),
        "device": Param(
            "the repository's device as VENDOR/MODEL (e.g. dragino/ldds75); a ChirpStack tag "
            "may set it, to pick a model of the operator's repository",
            str,
        ),
        "time_limit_ms": Param(
            "CPU time one decode may take before it is stopped, in ms",
            float,
            DEFAULT_TIME_LIMIT_MS,
            from_tags=False,
        ),
        "memory_limit_mb": Param(
            "memory the codec's JS context may use, in MiB",
            float,
            DEFAULT_MEMORY_LIMIT_MB,
            from_tags=False,
        ),
    }
    documentation = (
        "https://resources.lora-alliance.org/technical-specifications/ts013-1-0-0-payload-codec-api"
    )

    _bound: ClassVar[dict[tuple[Path, float, float], JSCodec]] = {}
    _bound_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        codec: str | os.PathLike[str] | None = None,
        *,
        time_limit_ms: float = DEFAULT_TIME_LIMIT_MS,
        memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB,
    ) -> None:
        if not time_limit_ms > 0 or not memory_limit_mb > 0:
            raise ValueError("time_limit_ms and memory_limit_mb must be positive")
        self.codec = Path(codec).expanduser().resolve() if codec is not None else None
        self.time_limit_ms = float(time_limit_ms)
        self.memory_limit_mb = float(memory_limit_mb)
        self._local = threading.local()

    def __repr__(self) -> str:
        limits = f"time_limit_ms={self.time_limit_ms:g}, memory_limit_mb={self.memory_limit_mb:g}"
        return f"JSCodec({str(self.codec)!r}, {limits})"

    def bind(self, params: Params) -> JSCodec:
        """The decoder for a device's parameters: one shared instance per codec and limits.

        Raises ValueError saying what is missing or wrong (no codec, an unknown repository
        device), for the inventory check to report with the device's entry.
        """
        time_limit = float(params.get("time_limit_ms", DEFAULT_TIME_LIMIT_MS))
        memory_limit = float(params.get("memory_limit_mb", DEFAULT_MEMORY_LIMIT_MB))
        key = (script_of(params), time_limit, memory_limit)
        with self._bound_lock:
            bound = self._bound.get(key)
            if bound is None:
                bound = JSCodec(key[0], time_limit_ms=time_limit, memory_limit_mb=memory_limit)
                self._bound[key] = bound
        return bound

    def check(self) -> str | None:
        """Why the codec cannot be used (unreadable, does not compile, no entry point), or None."""
        try:
            self._sandbox()
        except DecodeError as exc:
            return str(exc)
        return None

    @property
    def _label(self) -> str:
        return f"js codec {self.codec}"

    def _build(self) -> _Sandbox:
        if self.codec is None:
            raise DecodeError(
                "the js decoder has no codec: set its 'codec' parameter and decode through "
                "JSCodec.bind(params)"
            )
        try:
            source = self.codec.read_text(encoding="utf-8")
        except OSError as exc:
            raise DecodeError(f"{self._label}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise DecodeError(f"{self._label}: is not UTF-8 text") from None
        except ValueError as exc:  # a file name no file system takes (NUL, lone surrogate)
            raise DecodeError(f"{self._label}: cannot read: {exc}") from None
        quickjs = _engine()
        context = quickjs.Context()
        context.set_memory_limit(int(self.memory_limit_mb * 1024 * 1024))
        context.set_time_limit(self.time_limit_ms / 1000)
        try:
            context.eval(_PRELUDE)
            install = context.eval(_RUNNER)
        except quickjs.JSException as exc:
            raise DecodeError(
                f"{self._label}: sandbox does not start: {self._explain(exc)}"
            ) from None
        try:
            runner = install(source)
            version = runner("version?")
        except quickjs.JSException as exc:
            raise DecodeError(f"{self._label}: does not load: {self._explain(exc)}") from None
        if not version:
            raise DecodeError(
                f"{self._label}: defines neither decodeUplink(input) (TS013, ChirpStack v4), "
                "Decode(fPort, bytes, variables) (ChirpStack v3) nor Decoder(bytes, port) "
                "(The Things Network v2)"
            )
        return _Sandbox(context, runner)

    def _sandbox(self) -> _Sandbox:
        sandbox: _Sandbox | None = getattr(self._local, "sandbox", None)
        if sandbox is None:
            sandbox = self._local.sandbox = self._build()
        return sandbox

    def _explain(self, exc: BaseException) -> str:
        message = _js_message(exc)
        if message.startswith(_INTERRUPTED):
            return f"stopped after its time limit of {self.time_limit_ms:g} ms"
        if message.startswith(_OUT_OF_MEMORY) or message in _OUT_OF_MEMORY_BARE:
            return f"stopped at its memory limit of {self.memory_limit_mb:g} MiB"
        return message

    def _run(self, uplink: Uplink) -> DecodeResult:
        """Run the codec on one uplink; DecodeError for failures of the codec itself."""
        sandbox = self._sandbox()
        text = orjson.dumps(
            {
                "bytes": list(uplink.payload),
                "fPort": uplink.f_port,
                "recvTime": uplink.recv_time.isoformat(),
                "variables": dict(uplink.variables),
            }
        ).decode()
        quickjs = _engine()
        try:
            answer = sandbox.runner(text)
        except quickjs.JSException as exc:
            message = _js_message(exc)
            if (
                isinstance(exc, quickjs.StackOverflow)
                or message in _OUT_OF_MEMORY_BARE
                or message.startswith((_INTERRUPTED, _OUT_OF_MEMORY))
                or self._tainted(sandbox)
            ):
                self._local.sandbox = None  # half-run state: start the next uplink afresh
            raise DecodeError(f"{self._label}: {self._explain(exc)}") from None
        if not isinstance(answer, str):
            raise DecodeError(f"{self._label}: the sandbox runner was replaced")
        try:
            version, out, normalized, tainted = orjson.loads(answer)
        except orjson.JSONDecodeError:  # integers beyond 64 bits
            version, out, normalized, tainted = json.loads(answer)
        if tainted:
            self._local.sandbox = None  # the codec left state that could not be undone
        entry = _ENTRY_NAMES.get(version, "Decode")
        if not isinstance(out, dict):
            raise DecodeError(
                f"{self._label}: {entry} returned {type(out).__name__}, not an object"
            )
        if version != 4:
            return DecodeResult(out)
        warnings = _strings(out.get("warnings"))
        errors = _strings(out.get("errors"))
        data = out.get("data")
        if errors:
            # The uplink yields nothing, but the codec's own output is kept as it gave it
            # (a vendor example states data and errors together).
            return DecodeResult(data if isinstance(data, dict) else {}, warnings, errors)
        if not isinstance(data, dict):
            got = "no data" if data is None else f"data of type {type(data).__name__}"
            raise DecodeError(f"{self._label}: decodeUplink returned {got}, not an object")
        result = DecodeResult(data, warnings)
        if isinstance(normalized, dict):
            result.normalized, problems = _normalized(normalized)
            result.warnings.extend(f"normalizeUplink: {p}" for p in problems)
        return result

    @staticmethod
    def _tainted(sandbox: _Sandbox) -> bool:
        quickjs = _engine()
        try:
            return bool(sandbox.runner("tainted?"))
        except quickjs.JSException:
            return True

    def decode_uplink(self, uplink: Uplink) -> DecodeResult:
        """Decode one uplink, keeping every error and warning the codec returned; never raises."""
        try:
            return self._run(uplink)
        except DecodeError as exc:
            return DecodeResult({}, [], [str(exc)])
        except Exception as exc:  # noqa: BLE001 - hostile codecs must never crash the caller
            return DecodeResult({}, [], [f"{self._label} failed: {type(exc).__name__}: {exc}"])

    def decode(self, uplink: Uplink, warnings: list[str]) -> dict[str, Any]:
        result = self._run(uplink)
        warnings.extend(result.warnings)
        if result.errors:
            raise DecodeError("; ".join(result.errors))
        return result.data

    def normalise(self, data: Mapping[str, Any], params: Params, time: datetime) -> list[Reading]:
        """Top-level keys that are canonical reading names; the rest is for the mapping layer.

        Like TTN's normalised payload: a codec (or a wrapper around a vendor's) may already
        return ``temperature_c`` or ``energy_kwh``; a value of the wrong type is skipped here,
        one out of range is dropped with a warning by ``readings_of``.
        """
        out: list[Reading] = []
        for key, value in data.items():
            spec = CANONICAL.get(key)
            if spec is None:
                continue
            if spec.kind is Kind.FLAG:
                if isinstance(value, bool):
                    out.append(Reading(key, value, time))
                elif isinstance(value, int | float) and value in (0, 1):
                    out.append(Reading(key, bool(value), time))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out.append(Reading(key, float(value), time))
        return out
