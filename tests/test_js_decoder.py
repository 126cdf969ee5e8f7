"""The ``js`` decoder: vendor JavaScript codecs in the QuickJS sandbox.

Every codec used here is ours, in tests/js_codecs/. Misbehaving codecs misbehave only on a
trigger byte, so each test also shows that the same decoder, in the same thread, decodes the
next good uplink, and that the other codecs are unaffected.
"""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lorawatch.core.errors import DecodeError
from lorawatch.decoders import devices, registry, vectors
from lorawatch.decoders.base import DecodeResult, Uplink, readings_of
from lorawatch.decoders.js import JSCodec

CODECS = Path(__file__).parent / "js_codecs"
T = datetime(2026, 1, 14, 9, 26, 53, tzinfo=UTC)
R = TypeVar("R")


def codec(name: str, **limits: float) -> JSCodec:
    return JSCodec(CODECS / f"{name}.js", **limits)


def uplink(hex_bytes: str, f_port: int = 85, variables: dict[str, str] | None = None) -> Uplink:
    return Uplink(bytes.fromhex(hex_bytes.replace(" ", "")), f_port, T, variables or {})


def within(seconds: float, work: Callable[[], R]) -> R:
    """Run ``work`` in a daemon thread, so a sandbox that fails to stop a codec fails the test
    instead of hanging it."""
    box: list[R] = []
    thread = threading.Thread(target=lambda: box.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: the codec was not stopped"
    assert box, "the work raised in its thread"
    return box[0]


EM300 = codec("em300_di")
GOOD = uplink("01755c 03673401 046865 05c8e8030000")
GOOD_DATA = {"battery": 92, "temperature": 30.8, "humidity": 50.5, "pulse": 1000}


def assert_good_still_decodes() -> None:
    assert EM300.decode_uplink(GOOD).data == GOOD_DATA


# --- registration and parameters -------------------------------------------------------------


def test_registered_as_js_with_its_parameters() -> None:
    decoder = registry.get("js")
    assert isinstance(decoder, JSCodec)
    assert (decoder.family, decoder.vendor, decoder.device) == ("generic", "any", "vendor JS codec")
    assert set(decoder.parameters) == {
        "codec",
        "repository",
        "device",
        "time_limit_ms",
        "memory_limit_mb",
    }
    # Only the operator names files and limits; a ChirpStack tag may pick a repository device.
    assert [k for k, p in decoder.parameters.items() if p.from_tags] == ["device"]
    assert [k for k, p in decoder.parameters.items() if p.path] == ["codec", "repository"]
    assert decoder.parameters["codec"].type is str
    assert decoder.parameters["codec"].default is None
    params, problems = decoder.resolve_params({"codec": "x.js"})
    assert problems == []
    assert params == {"codec": "x.js", "time_limit_ms": 100.0, "memory_limit_mb": 16.0}


def test_the_registry_instance_needs_a_codec() -> None:
    result = registry.get("js").decode_uplink(GOOD)
    assert not result.ok
    assert "'codec' parameter" in result.errors[0]


def test_bind_from_inventory_strings_shares_one_decoder_per_codec_and_limits() -> None:
    shared = registry.get("js")
    raw = {"codec": str(CODECS / "em300_di.js"), "time_limit_ms": "50", "memory_limit_mb": "8"}
    params, problems = shared.resolve_params(raw)
    assert problems == []
    assert isinstance(shared, JSCodec)
    first = shared.bind(params)
    assert first is shared.bind(dict(params))
    assert (first.time_limit_ms, first.memory_limit_mb) == (50.0, 8.0)
    assert first.codec == (CODECS / "em300_di.js").resolve()
    other = shared.bind({**params, "time_limit_ms": 60.0})
    assert other is not first
    assert first.decode_uplink(GOOD).data == GOOD_DATA
    with pytest.raises(ValueError, match="'codec'"):
        shared.bind({"time_limit_ms": 50.0})


# --- a real codec: same data as the native decoder ---------------------------------------------

EM300_VECTORS = vectors.load(Path(devices.__file__).parent / "milesight_em300_di.yaml")
EXTRA_FRAMES = [
    ("036700 80", 85),  # temperature at the i16 minimum
    ("0468ff 017500", 85),  # humidity maximum, battery 0
    ("20ce 9e744663 1001 5d 01 01 00000000", 85),  # history v1, digital input mode
    ("21ce 9e744663 1001 5d 07 03 00 6400 0a00 0000c842", 85),  # unknown alarm and mode
    ("ff0f07 ff0b01", 85),  # unknown LoRaWAN class
    ("05e1 0100 0200 cdcccc3d", 85),  # float32 0.1
    ("850000 02", 85),  # gpio alarm release
    ("01", 85),  # dangling byte
    ("01755c", 1),  # another fPort
]


def _frames() -> list[tuple[str, int]]:
    from_yaml = [
        (str(ex.raw["input"]["bytes"]), int(ex.raw["input"]["fPort"])) for ex in EM300_VECTORS
    ]
    return from_yaml + EXTRA_FRAMES


@pytest.mark.parametrize(("hex_bytes", "f_port"), _frames())
def test_em300_codec_gives_the_native_decoders_data(hex_bytes: str, f_port: int) -> None:
    native = registry.get("milesight-em300-di").decode_uplink(uplink(hex_bytes, f_port))
    js = EM300.decode_uplink(uplink(hex_bytes, f_port))
    assert js.ok == native.ok, (js, native)
    assert js.data == native.data
    assert len(js.warnings) == len(native.warnings)


def test_the_vectors_cover_several_frames() -> None:
    assert len(EM300_VECTORS) >= 10
    assert sum(1 for ex in EM300_VECTORS if "errors" not in (ex.raw.get("output") or {})) >= 8


# --- the TS013 input and the ChirpStack v3 entry point ------------------------------------------


def test_ts013_input_shape() -> None:
    result = codec("input_echo").decode_uplink(uplink("00ff10", 7, {"site": "école"}))
    assert result.data == {
        "bytes": [0, 255, 16],
        "isArray": True,
        "fPort": 7,
        "recvTime": "2026-01-14T09:26:53.000Z",
        "isDate": True,
        "variables": {"site": "école"},
    }


def test_v3_decode_codec_and_canonical_keys_become_readings() -> None:
    decoder = codec("v3_decode")
    result = decoder.decode_uplink(uplink("08fc 5a 01", 2, {"site": "mairie"}))
    assert result.ok
    assert result.data == {
        "temperature_c": 23.0,
        "battery_pct": 90,
        "lamp_on": True,
        "port": 2,
        "site": "mairie",
    }
    readings = readings_of(decoder, result, {}, T)
    assert {(r.name, r.value) for r in readings} == {
        ("temperature_c", 23.0),
        ("battery_pct", 90.0),
        ("lamp_on", True),
    }
    assert all(r.time == T and r.problem() is None for r in readings)


def test_normalise_takes_only_canonical_keys_of_the_right_type() -> None:
    decoder = codec("v3_decode")
    data = {
        "temperature_c": -4.5,
        "leak": 1,
        "tilted": 0,
        "lamp_on": "yes",  # wrong type for a flag: skipped
        "power_w": True,  # a bool is not a number
        "voltage_v": "230",  # a string is not a number
        "humidity_pct": 140.0,  # canonical but implausible: dropped by readings_of
        "temperature": 21.0,  # vendor key: left to the mapping layer
    }
    got = {(r.name, r.value) for r in decoder.normalise(data, {}, T)}
    assert got == {
        ("temperature_c", -4.5),
        ("leak", True),
        ("tilted", False),
        ("humidity_pct", 140.0),
    }
    result = DecodeResult(data)
    kept = readings_of(decoder, result, {}, T)
    assert {r.name for r in kept} == {"temperature_c", "leak", "tilted"}
    assert any("humidity_pct" in w for w in result.warnings)


# --- misbehaving codecs: each costs one uplink, never the service ------------------------------


def test_endless_loop_is_stopped_and_the_codec_decodes_again() -> None:
    decoder = codec("loop", time_limit_ms=50)

    def work() -> list[DecodeResult]:
        return [decoder.decode_uplink(uplink(h)) for h in ("ff", "01", "fe", "02")]

    looped, good, caught, good_again = within(20, work)
    for bad in (looped, caught):
        assert not bad.ok and bad.data == {}
        assert bad.errors == [f"js codec {decoder.codec}: stopped after its time limit of 50 ms"]
    assert good.data == {"first": 1}
    assert good_again.data == {"first": 2}
    assert_good_still_decodes()


def test_the_default_time_limit_is_chirpstacks_100_ms() -> None:
    decoder = codec("loop")
    result = within(20, lambda: decoder.decode_uplink(uplink("ff")))
    assert result.errors == [f"js codec {decoder.codec}: stopped after its time limit of 100 ms"]


def test_endless_loop_at_load_time_is_stopped(tmp_path: Path) -> None:
    path = tmp_path / "hangs.js"
    path.write_text("for (;;) {}\nfunction decodeUplink(input) { return {data: {}}; }\n")
    decoder = JSCodec(path, time_limit_ms=30)
    result = within(20, lambda: decoder.decode_uplink(GOOD))
    assert result.errors == [
        f"js codec {path}: does not load: stopped after its time limit of 30 ms"
    ]


def test_unbounded_recursion_is_an_error() -> None:
    decoder = codec("loop")
    bad, good = within(20, lambda: [decoder.decode_uplink(uplink(h)) for h in ("fd", "03")])
    assert len(bad.errors) == 1
    assert bad.errors[0].startswith(f"js codec {decoder.codec}: RangeError: Maximum call stack")
    assert "(at recurse (line 5:" in bad.errors[0]
    assert good.data == {"first": 3}


@pytest.mark.parametrize("trigger", ["ff", "fe", "fd"])
def test_memory_bomb_is_stopped_and_the_codec_decodes_again(trigger: str) -> None:
    decoder = codec("bomb", time_limit_ms=5000)

    def work() -> list[DecodeResult]:
        return [decoder.decode_uplink(uplink(h)) for h in (trigger, "01", trigger, "02")]

    bomb, good, bomb_again, good_again = within(60, work)
    for bad in (bomb, bomb_again):
        assert bad.errors == [f"js codec {decoder.codec}: stopped at its memory limit of 16 MiB"]
    assert good.data == {"first": 1}
    assert good_again.data == {"first": 2}
    assert_good_still_decodes()


def test_memory_limit_is_configurable() -> None:
    decoder = codec("bomb", memory_limit_mb=4, time_limit_ms=5000)
    result = within(60, lambda: decoder.decode_uplink(uplink("fe")))
    assert result.errors == [f"js codec {decoder.codec}: stopped at its memory limit of 4 MiB"]


def test_a_codec_that_throws_gives_an_error_naming_it() -> None:
    decoder = codec("throws")
    bad = decoder.decode_uplink(uplink("ff"))
    assert bad.errors == [
        f"js codec {decoder.codec}: TypeError: unsupported frame (at decodeUplink (line 4:15))"
    ]
    assert decoder.decode_uplink(uplink("07")).data == {"first": 7}
    with pytest.raises(DecodeError, match="unsupported frame"):
        decoder.decode(uplink("ff"), [])
    assert_good_still_decodes()


def test_errors_returned_by_the_codec_are_a_failure_with_its_warnings() -> None:
    decoder = codec("errors")
    bad = decoder.decode_uplink(uplink("ff"))
    assert bad.data == {"partial": True}  # kept as the codec gave it; the uplink yields nothing
    assert bad.errors == ["unknown frame type 0xff", "length 1 too short"]
    assert bad.warnings == ["frame version 255"]
    assert readings_of(decoder, bad, {}, T) == []
    warnings: list[str] = []
    with pytest.raises(DecodeError, match=r"unknown frame type 0xff; length 1 too short"):
        decoder.decode(uplink("ff"), warnings)
    assert warnings == ["frame version 255"]
    good = decoder.decode_uplink(uplink("05"))
    assert (good.data, good.warnings, good.errors) == ({"first": 5}, [], [])
    assert_good_still_decodes()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("function decodeUplink(input) { return {warnings: []}; }", "returned no data"),
        ("function decodeUplink(input) { return {data: [1, 2]}; }", "returned data of type list"),
        ("function decodeUplink(input) { return 42; }", "decodeUplink returned int"),
        ("function Decode(fPort, bytes) { return 'x'; }", "Decode returned str"),
    ],
)
def test_malformed_results_are_errors(tmp_path: Path, source: str, message: str) -> None:
    path = tmp_path / "odd.js"
    path.write_text(source)
    result = JSCodec(path).decode_uplink(GOOD)
    assert not result.ok
    assert message in result.errors[0]
    assert str(path) in result.errors[0]


def test_bigints_become_numbers_when_exact(tmp_path: Path) -> None:
    path = tmp_path / "big.js"
    path.write_text("function decodeUplink(input) { return {data: {n: 10n, big: 2n ** 64n}}; }")
    assert JSCodec(path).decode_uplink(GOOD).data == {"n": 10, "big": "18446744073709551616"}


# --- no way out of the sandbox -----------------------------------------------------------------

ECMASCRIPT_GLOBALS = {
    "AggregateError", "Array", "ArrayBuffer", "Atomics", "BigInt", "BigInt64Array",
    "BigUint64Array", "Boolean", "DataView", "Date", "Error", "EvalError", "Float32Array",
    "Float64Array", "Function", "Infinity", "Int16Array", "Int32Array", "Int8Array",
    "InternalError", "JSON", "Map", "Math", "NaN", "Number", "Object", "Promise", "Proxy",
    "RangeError", "ReferenceError", "Reflect", "RegExp", "Set", "SharedArrayBuffer", "String",
    "Symbol", "SyntaxError", "TypeError", "URIError", "Uint16Array", "Uint32Array", "Uint8Array",
    "Uint8ClampedArray", "WeakMap", "WeakSet", "decodeURI", "decodeURIComponent", "encodeURI",
    "encodeURIComponent", "escape", "eval", "globalThis", "isFinite", "isNaN", "parseFloat",
    "parseInt", "undefined", "unescape",
    # ES2022+ and web-compatible additions of quickjs-ng: none reaches outside the context
    "AsyncDisposableStack", "DOMException", "DisposableStack", "FinalizationRegistry",
    "Float16Array", "Iterator", "SuppressedError", "WeakRef", "atob", "btoa", "performance",
    "queueMicrotask",
}  # fmt: skip


def test_no_io_is_reachable_from_a_codec() -> None:
    result = codec("escape").decode_uplink(GOOD)
    assert result.ok, result.errors
    data = result.data
    for way_out in ("require", "fetch", "process", "std", "os", "XMLHttpRequest", "Deno", "print"):
        assert data[way_out] == "ReferenceError", way_out
    assert data["loadScript"] == "ReferenceError"
    ours = {"Buffer", "console", "attempt", "decodeUplink"}
    assert set(data["globals"]) - ECMASCRIPT_GLOBALS - ours == set()
    assert_good_still_decodes()


def test_modules_cannot_be_imported() -> None:
    decoder = codec("import_std")
    result = decoder.decode_uplink(GOOD)
    assert result.errors == [
        f"js codec {decoder.codec}: does not load: SyntaxError: Unexpected token '*' (at line 2:8)"
    ]
    assert_good_still_decodes()


# --- broken, missing and incomplete codec files ------------------------------------------------


def test_a_broken_codec_names_its_file_and_line() -> None:
    decoder = codec("broken")
    expected = (
        f"js codec {decoder.codec}: does not load: "
        "SyntaxError: unexpected token in expression: ';' (at line 4:29)"
    )
    assert decoder.decode_uplink(GOOD).errors == [expected]
    assert decoder.check() == expected
    assert EM300.check() is None
    assert_good_still_decodes()


def test_a_missing_codec_names_its_file_and_is_retried(tmp_path: Path) -> None:
    path = tmp_path / "later.js"
    decoder = JSCodec(path)
    result = decoder.decode_uplink(GOOD)
    assert result.errors == [f"js codec {path}: cannot read: No such file or directory"]
    path.write_text((CODECS / "em300_di.js").read_text())
    assert decoder.decode_uplink(GOOD).data == GOOD_DATA


def test_a_codec_without_entry_point() -> None:
    decoder = codec("no_entry")
    (error,) = decoder.decode_uplink(GOOD).errors
    assert error.startswith(f"js codec {decoder.codec}: defines neither decodeUplink")
    assert_good_still_decodes()


# --- isolation: every call starts afresh ---------------------------------------------------


def test_codecs_do_not_see_each_others_globals() -> None:
    a, b = codec("global_a"), codec("global_b")
    for _ in range(2):
        assert a.decode_uplink(GOOD).data == {"before": None, "me": "a"}
        assert b.decode_uplink(GOOD).data == {"before": None, "me": "b"}


def test_two_devices_on_one_codec_share_no_state() -> None:
    """Device A reports a leak; device B, on the same bound decoder, must not inherit it."""
    shared = registry.get("js")
    params, problems = shared.resolve_params({"codec": str(CODECS / "leak_state.js")})
    assert problems == []
    device_a, device_b = shared.bind(params), shared.bind(dict(params))
    assert device_a is device_b  # one decoder per codec file: isolation must come per call
    assert device_a.decode_uplink(uplink("01 11")).data == {"leak": True, "level": 17, "frames": 1}
    assert device_b.decode_uplink(uplink("00 05")).data == {"level": 5, "frames": 1}
    assert device_a.decode_uplink(uplink("00 11")).data == {"level": 17, "frames": 1}


def test_no_state_survives_in_globals_or_builtins() -> None:
    decoder = codec("sticky_globals")
    fresh = {"seen": None, "json": "native", "proto": None, "math": None}
    assert decoder.decode_uplink(uplink("01")).data == fresh
    assert decoder.decode_uplink(uplink("02")).data == fresh
    assert_good_still_decodes()


def test_state_that_cannot_be_undone_rebuilds_the_context() -> None:
    decoder = codec("stuck_global")
    assert decoder.decode_uplink(uplink("01")).data == {"before": None}
    assert decoder.decode_uplink(uplink("00")).data == {"before": None}


def test_every_call_and_every_thread_starts_afresh() -> None:
    decoder = codec("counter")
    assert decoder.decode_uplink(uplink("05")).data["calls"] == 1
    assert decoder.decode_uplink(uplink("05")).data["calls"] == 1
    other = within(20, lambda: decoder.decode_uplink(uplink("05")).data["calls"])
    assert other == 1
    assert decoder.decode_uplink(uplink("05")).data["calls"] == 1


def test_the_sandbox_runs_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as time_module

    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time_module.tzset()
    try:
        data = codec("utc_probe").decode_uplink(uplink("00")).data
    finally:
        monkeypatch.undo()
        time_module.tzset()
    assert data == {
        "hours": 9,
        "offset": 0,
        "text": "Wed Jan 14 2026 09:26:53 GMT+0000 (Coordinated Universal Time)",
        "local": "2026-01-14T10:00:00.000Z",
        "parsed": "2026-01-14T10:00:00.000Z",
        "zoned": "2026-01-14T09:00:00.000Z",
    }


def test_ttn_v2_decoder_codec() -> None:
    decoder = codec("v2_decoder")
    result = decoder.decode_uplink(uplink("08fc", 3))
    assert result.data == {"temperature_c": 23.0, "port": 3}
    assert [(r.name, r.value) for r in readings_of(decoder, result, {}, T)] == [
        ("temperature_c", 23.0)
    ]


def test_parallel_threads_decode_correctly() -> None:
    frames = [
        f"05c8{struct.pack('<I', n).hex()} 0367{struct.pack('<h', n - 500).hex()}"
        for n in range(400)
    ]

    def one(hex_bytes: str) -> dict[str, Any]:
        return EM300.decode_uplink(uplink(hex_bytes)).data

    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(one, frames))
    assert got == [{"pulse": n, "temperature": (n - 500) / 10} for n in range(400)]


# --- the Buffer helper -------------------------------------------------------------------------


def test_buffer_matches_node_semantics() -> None:
    raw = bytes.fromhex("0102fe80ff00aa55")
    data = codec("buffer_probe").decode_uplink(Uplink(raw, 1, T)).data

    def unpack(fmt: str, at: int = 0) -> Any:
        return struct.unpack_from(fmt, raw, at)[0]

    assert data["length"] == 8 and data["isBuffer"] is True
    ints = {
        "u8": "<B", "i8": "<b", "u16le": "<H", "u16be": ">H", "i16le": "<h", "i16be": ">h",
        "u32le": "<I", "u32be": ">I", "i32le": "<i", "i32be": ">i", "uint32le_alias": "<I",
    }  # fmt: skip
    for key, fmt in ints.items():
        assert data[key] == unpack(fmt), key
    assert math.isclose(data["f32le"], unpack("<f"), rel_tol=1e-12)
    assert math.isclose(data["f32be"], unpack(">f"), rel_tol=1e-12)
    assert math.isclose(data["f64le"], unpack("<d"), rel_tol=1e-12)
    assert data["u24be"] == int.from_bytes(raw[1:4], "big")
    assert data["i24le"] == int.from_bytes(raw[1:4], "little", signed=True)
    assert data["u64le"] == str(unpack("<Q"))
    assert data["hex"] == raw.hex() == data["from_hex"] == data["from_base64"]
    assert data["base64"] == "AQL+gP8AqlU="
    assert data["slice_hex"] == raw[2:5].hex()
    assert data["slice_u16be"] == unpack(">H", 2)
    assert data["utf8"] == "é€😀".encode().hex()
    assert data["utf8_back"] == "é€"
    assert data["out_of_range"] == "RangeError"
    assert data["json"] == '{"type":"Buffer","data":[1,2]}'
    assert data["concat"] == "01ab"
    assert data["for_in_keys"] == ["0"]


def test_vendor_idioms_behave_as_in_a_script() -> None:
    decoder = codec("vendor_style")
    assert decoder.decode_uplink(uplink("01 ff9c", 5)).data == {
        "topThis": True,
        "kind": "temperature",
        "value": -10.0,
    }
    assert decoder.decode_uplink(uplink("02 0064", 6)).errors == ["unknown port 6"]


def test_a_codec_that_is_not_a_self_contained_script_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "escape.js"
    path.write_text(
        "function decodeUplink(i) { return {data: {}}; }\n}); var kept = {}; (function () {\n"
    )
    (error,) = JSCodec(path).decode_uplink(GOOD).errors
    assert "does not load" in error and "not a self-contained script" in error
