"""The Things Network's Device Repository layout as a source of vendor codecs.

Thousands of devices have a codec in TTN's ``lorawan-devices`` repository; lorawatch reads a
local copy of it (or any folder laid out like it) so an integrator names a device by
``vendor/model`` instead of copying files around::

    vendor/index.yaml                   vendors: [{id, name, ...}]
    vendor/<vendor>/index.yaml          endDevices: [<model>, ...]
    vendor/<vendor>/<model>.yaml        name, description, firmwareVersions[].profiles.<region>.codec
    vendor/<vendor>/<codec>.yaml        uplinkDecoder: {fileName, examples[]}
    vendor/<vendor>/<fileName>.js       the codec (TS013 decodeUplink, optional normalizeUplink)

An example has ``input: {fPort, bytes}`` (bytes as a list of numbers, ``[0x01, 0x02]``, or
as hex text), ``output: {data | errors, warnings?}`` and, when the codec normalises,
``normalizedOutput: {data: [measurements]}``. Every file is read defensively: a malformed
file gives a :class:`RepositoryError` naming the file and the key, never a traceback.

Nothing outside the repository folder is ever read: a model id is ``vendor/model`` in plain
characters and a codec's ``fileName`` must stay inside its vendor folder, so a ChirpStack tag
that selects a model cannot name an arbitrary file.

Source: TheThingsNetwork/lorawan-devices, README "Adding devices" and lib/payload.json (the
normalized payload schema).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorawatch.decoders.base import DecodeResult

MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
F_PORTS = range(1, 224)  # application ports; 0 carries MAC commands, 224 is the test port


if TYPE_CHECKING:
    from ruamel.yaml import YAML


class RepositoryError(ValueError):
    """A repository file or id that cannot be used; the message names the file and the fix."""


def yaml_loader() -> YAML:
    """A YAML 1.2 safe loader (``on``/``off`` and ``00012074`` stay strings)."""
    # Imported at first use: the JS codec sandbox imports this module in every service, and
    # ruamel.yaml (~3 MB resident) is needed only by a configured repository or a codec YAML.
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    return yaml


def read_yaml(path: Path) -> Any:
    """A YAML document, or RepositoryError saying why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RepositoryError(f"{path}: file does not exist") from None
    except OSError as exc:
        raise RepositoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RepositoryError(f"{path}: is not UTF-8 text") from None
    yaml = yaml_loader()
    # Loaded with the YAML class by yaml_loader() (see there): only a lookup here.
    from ruamel.yaml.error import YAMLError

    try:
        return yaml.load(text)
    except YAMLError as exc:
        raise RepositoryError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from None
    except Exception as exc:  # noqa: BLE001 - the pure loader raises odd types on odd input
        raise RepositoryError(f"{path}: not valid YAML: {type(exc).__name__}: {exc}") from None


def payload_of(value: object) -> bytes:
    """Example bytes: a list of numbers 0-255 (TTN's ``[0x01, ...]``) or hex (spaces allowed).

    Raises ValueError saying what is wrong, for the CLI and the example checks alike.
    """
    if isinstance(value, list):
        if not all(isinstance(b, int) and not isinstance(b, bool) for b in value):
            raise ValueError(f"bytes: every item must be a number 0-255, got {value!r}")
        if not all(0 <= b <= 255 for b in value):
            raise ValueError(f"bytes: every number must be 0-255, got {value!r}")
        return bytes(value)
    if isinstance(value, str):
        text = "".join(value.split())
        if text.lower().startswith("0x"):
            text = text[2:]
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"bytes: {value!r} is neither hexadecimal nor base64") from None
    if value is None:
        return b""
    raise ValueError(f"bytes: expected a list of numbers or hex text, got {value!r}")


def f_port_of(value: object, ports: range = F_PORTS) -> int:
    """An fPort within ``ports`` (the application ports 1..223 unless told), or ValueError.

    Decoder vectors may use 0 or the reserved ports on purpose, to show how a decoder refuses
    them; a vendor example or a codec under test may not.
    """
    span = f"{ports.start}-{ports.stop - 1}"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"fPort: expected a number {span}, got {value!r}")
    try:
        port = int(value)
    except ValueError:
        raise ValueError(f"fPort: expected a number {span}, got {value!r}") from None
    if port not in ports:
        if port in range(256):
            raise ValueError(
                f"fPort: {port} is not an application port ({span}; 0 carries MAC commands "
                "only, 224 is the test port)"
            )
        raise ValueError(f"fPort: {port} is not a LoRaWAN port (0-255)")
    return port


def same(expected: Any, actual: Any) -> bool:
    """JSON values equal, numbers to 1e-6 relative, booleans only to booleans."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual if isinstance(expected, bool) else False
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(float(expected), float(actual), rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same(expected[k], actual[k]) for k in expected
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(same, expected, actual))
    return bool(expected == actual)


def diff(where: str, expected: Any, actual: Any) -> list[str]:
    """One line per difference between an expected and an actual JSON value, by path
    (``data.meters[0].value: expected 3, got 4``), numbers compared to 1e-6 relative."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in expected:
            if key not in actual:
                out.append(f"{where}.{key}: missing (expected {expected[key]!r})")
            else:
                out += diff(f"{where}.{key}", expected[key], actual[key])
        out += [f"{where}.{k}: unexpected {actual[k]!r}" for k in actual if k not in expected]
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            line
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for line in diff(f"{where}[{i}]", e, a)
        ]
    if same(expected, actual):
        return []
    return [f"{where}: expected {expected!r}, got {actual!r}"]


@dataclass(frozen=True, slots=True)
class Example:
    """One ``uplinkDecoder.examples`` entry, checked."""

    index: int
    description: str
    payload: bytes
    f_port: int
    recv_time: datetime | None
    output: Mapping[str, Any]
    normalized: Mapping[str, Any] | None

    def problems(self, result: DecodeResult) -> list[str]:
        """How ``result`` differs from what the example states (empty when it matches)."""
        out: list[str] = []
        if "data" in self.output:
            out += diff("data", self.output["data"], result.data)
        want_errors = [str(e) for e in self.output.get("errors") or []]
        if want_errors != result.errors and not (
            len(want_errors) == len(result.errors)
            and all(w in g for w, g in zip(want_errors, result.errors, strict=True))
        ):
            out.append(f"errors: expected {want_errors}, got {result.errors}")
        want_warnings = [str(w) for w in self.output.get("warnings") or []]
        got_warnings = [w for w in result.warnings if not w.startswith("normalizeUplink:")]
        if want_warnings != got_warnings:
            out.append(f"warnings: expected {want_warnings}, got {got_warnings}")
        if self.normalized is not None and "data" in self.normalized:
            want = self.normalized["data"]
            want = want if isinstance(want, list) else [want]
            out += diff("normalizedOutput.data", want, result.normalized)
        return out


@dataclass(frozen=True, slots=True)
class Codec:
    """A codec YAML: its JS file and its examples (and why some examples could not be read)."""

    file: Path
    script: Path
    examples: list[Example]
    problems: list[str] = field(default_factory=list)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"recvTime: {value!r} is not an RFC 3339 time") from None


def load_codec(path: Path, root: Path | None = None) -> Codec:
    """Read a codec YAML (``uplinkDecoder.fileName`` and ``examples``); the JS file is resolved
    from the YAML's folder and must stay inside ``root`` (default: that folder)."""
    path = path.expanduser().resolve()
    doc = read_yaml(path)
    decoder = doc.get("uplinkDecoder") if isinstance(doc, dict) else None
    if not isinstance(decoder, dict):
        raise RepositoryError(f"{path}: no 'uplinkDecoder' mapping (is this a codec YAML?)")
    name = decoder.get("fileName")
    if not isinstance(name, str) or not name.strip():
        raise RepositoryError(f"{path}: uplinkDecoder.fileName: the codec's .js file is required")
    try:
        name.encode("utf-8")
        script = (path.parent / name).resolve()
        fence = (root or path.parent).resolve()
    except (ValueError, OSError) as exc:  # a NUL byte, a lone surrogate, a loop of links
        raise RepositoryError(f"{path}: uplinkDecoder.fileName {name!r}: {exc}") from None
    if not script.is_relative_to(fence):
        raise RepositoryError(f"{path}: uplinkDecoder.fileName {name!r} leaves {fence}")
    raw_examples = decoder.get("examples") or []
    if not isinstance(raw_examples, list):
        raise RepositoryError(f"{path}: uplinkDecoder.examples must be a list")
    examples: list[Example] = []
    problems: list[str] = []
    for i, raw in enumerate(raw_examples):
        where = f"examples[{i}]"
        try:
            examples.append(_example(i, raw))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    return Codec(path, script, examples, problems)


def _example(index: int, raw: object) -> Example:
    if not isinstance(raw, dict):
        raise ValueError("an example must be a mapping with 'input' and 'output'")
    if raw.get("type", "uplink") != "uplink":
        raise ValueError(f"type {raw.get('type')!r}: only uplink examples are run")
    inp = raw.get("input")
    if not isinstance(inp, dict):
        raise ValueError("input: a mapping with fPort and bytes is required")
    output = raw.get("output")
    if output is None:
        output = {}
    if not isinstance(output, dict):
        raise ValueError("output: must be a mapping (data, errors, warnings)")
    for key in ("errors", "warnings"):
        if key in output and not isinstance(output[key], list | None):
            raise ValueError(f"output.{key}: must be a list of messages")
    normalized = raw.get("normalizedOutput")
    if normalized is not None and not isinstance(normalized, dict):
        raise ValueError("normalizedOutput: must be a mapping with data")
    return Example(
        index,
        _text(raw.get("description")) or f"example {index}",
        payload_of(inp.get("bytes")),
        f_port_of(inp.get("fPort", 1), range(256)),  # the vendor says which port it means
        _time(inp.get("recvTime")),
        output,
        normalized,
    )


@dataclass(frozen=True, slots=True)
class Model:
    """A device of the repository: ``vendor/model``, its name and its codec ids."""

    id: str
    name: str
    description: str
    file: Path
    codecs: tuple[str, ...]


class Repository:
    """A local folder laid out like TTN's Device Repository (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.vendor_dir = self.root / "vendor"

    def check(self) -> str | None:
        """Why this folder is not a device repository, or None."""
        if not self.vendor_dir.is_dir():
            return f"{self.root}: not a device repository (no vendor/ folder)"
        return None

    def vendors(self) -> list[str]:
        if not self.vendor_dir.is_dir():
            return []
        return sorted(p.name for p in self.vendor_dir.iterdir() if p.is_dir())

    def models(self, vendor: str) -> list[str]:
        """The models a vendor's index lists (every model YAML when there is no index)."""
        folder = self.vendor_dir / vendor
        index = folder / "index.yaml"
        if index.is_file():
            doc = read_yaml(index)
            listed = doc.get("endDevices") if isinstance(doc, dict) else None
            if isinstance(listed, list):
                return sorted({str(m) for m in listed})
        return sorted(
            p.stem
            for p in folder.glob("*.yaml")
            if p.stem != "index" and not p.stem.endswith(("-codec", "-profile"))
        )

    def model(self, ident: str) -> Model:
        """The model ``vendor/model``; RepositoryError naming what is missing."""
        if not MODEL_ID.match(ident or ""):
            raise RepositoryError(
                f"{ident!r} is not a repository device: expected VENDOR/MODEL "
                "(letters, digits, '.', '_', '-')"
            )
        problem = self.check()
        if problem:
            raise RepositoryError(problem)
        vendor, name = ident.split("/")
        folder = self.vendor_dir / vendor
        if not folder.is_dir():
            raise RepositoryError(f"{ident}: no vendor {vendor!r} in {self.vendor_dir}")
        path = folder / f"{name}.yaml"
        if not path.is_file():
            known = ", ".join(self.models(vendor)[:20]) or "none"
            raise RepositoryError(f"{ident}: no {path.name} in {folder} (models: {known})")
        doc = read_yaml(path)
        if not isinstance(doc, dict):
            raise RepositoryError(f"{path}: a device YAML must be a mapping")
        codecs: list[str] = []
        versions = doc.get("firmwareVersions")
        for version in versions if isinstance(versions, list) else []:
            profiles = version.get("profiles") if isinstance(version, dict) else None
            for profile in profiles.values() if isinstance(profiles, dict) else []:
                codec = profile.get("codec") if isinstance(profile, dict) else None
                if isinstance(codec, str) and codec and codec not in codecs:
                    codecs.append(codec)
        return Model(
            ident,
            _text(doc.get("name")) or name,
            _text(doc.get("description")),
            path,
            tuple(codecs),
        )

    def codec_of(self, ident: str, codec_id: str = "") -> Codec:
        """The codec of ``vendor/model``: ``codec_id`` when given, else the one of the last
        listed firmware version (the newest, by the repository's convention)."""
        model = self.model(ident)
        if not model.codecs:
            raise RepositoryError(f"{ident}: {model.file.name} names no codec in firmwareVersions")
        chosen = codec_id or model.codecs[-1]
        if chosen not in model.codecs:
            raise RepositoryError(
                f"{ident}: codec {chosen!r} is not one of {', '.join(model.codecs)}"
            )
        return load_codec(model.file.parent / f"{chosen}.yaml", model.file.parent)
