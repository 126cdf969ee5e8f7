"""``lorawatch decoders test | verify | add`` as an integrator uses them, on codecs and a
Device Repository folder written for these tests (tests/js_codecs/repository)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lorawatch import inventory
from lorawatch.app.cli.main import app
from lorawatch.decoders.base import Uplink
from lorawatch.decoders.js import JSCodec

REPO = Path(__file__).parent / "js_codecs" / "repository"
LABS = REPO / "vendor" / "lorawatch-labs"
T_HEAD = (
    '[[communes]]\nid = "c"\nname = "C"\nlatitude = 48.2\nlongitude = -1.6\n'
    '[[buildings]]\nid = "b"\ncommune = "c"\nname = "B"\n'
)


def run(*args: str) -> Result:
    result = CliRunner().invoke(app, ["decoders", *args])
    # Whatever the input, an answer and an exit code, never a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def readings(result: Result) -> dict[tuple[str, str], object]:
    doc = json.loads(result.stdout)
    return {(r["name"], r.get("channel", "")): r["value"] for r in doc["readings"]}


# --- decoders test -----------------------------------------------------------------------


def test_a_codec_file_on_one_frame_gives_data_and_readings() -> None:
    result = run(
        "test",
        "--codec",
        str(LABS / "wl-100.js"),
        "0300 01E2 41 0DAC FFEC",
        "--fport",
        "1",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["data"]["status"] == "Leak"
    assert doc["errors"] == [] and doc["warnings"] == []
    assert doc["normalized"][0]["water"] == {"leak": True}
    assert readings(result) == {
        ("leak", ""): True,
        ("volume_m3", ""): 123.457,
        ("temperature_c", ""): -2.0,
        ("battery_v", ""): 3.5,
    }


def test_a_repository_device_with_an_inline_mapping() -> None:
    mapping = (
        '"sockets[0].state" = { reading = "lamp_on", values = { ON = true, OFF = false }, channel = "1" }\n'
        '"sockets[1].state" = { reading = "lamp_on", values = { ON = true, OFF = false }, channel = "2" }\n'
        '"meters[displayName=Energy].value" = { reading = "energy_kwh", unit = "Wh" }\n'
        'frames = { reading = "pulse_count", modulus = 65536 }\n'
    )
    result = run(
        "test", "--repository", str(REPO), "--device", "lorawatch-labs/sp-300",
        "01 00 0012D687 0038 FFFF", "--fport", "10", "--mapping", mapping, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert readings(result) == {
        ("lamp_on", "1"): True,
        ("lamp_on", "2"): False,
        ("energy_kwh", ""): 1234.567,
        ("pulse_count", ""): 65535.0,
    }
    doc = json.loads(result.stdout)
    assert [r.get("modulus") for r in doc["readings"] if r["name"] == "pulse_count"] == [65536.0]


def test_a_mapping_file_and_a_threshold(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text('[mapping]\nwater_leak_level = { reading = "leak", above = 200 }\n')
    codec = str(LABS / "ll-50-codec.yaml")
    low = run("test", "--codec", codec, "115a", "--fport", "2", "--mapping", str(path), "--json")
    high = run("test", "--codec", codec, "e659", "--fport", "2", "--mapping", str(path), "--json")
    assert readings(low)[("leak", "")] is False
    assert readings(high)[("leak", "")] is True


def test_a_registered_decoder_by_name_still_works() -> None:
    result = run("test", "milesight-em300-di", "01755c", "--fport", "85", "--json")
    assert result.exit_code == 0
    assert readings(result) == {("battery_pct", ""): 92.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--codec", str(LABS / "wl-100.js"), "00", "--fport", "0"],
            "0 is not an application port",
        ),
        (["--codec", str(LABS / "wl-100.js"), "00", "--fport", "300"], "not a LoRaWAN port"),
        (["--codec", str(LABS / "wl-100.js"), "zz", "--fport", "1"], "not hexadecimal"),
        (["--codec", str(LABS / "wl-100.js"), "00", "-m", "x = 1"], "expected { reading"),
        (
            ["--codec", str(LABS / "wl-100.js"), "00", "-m", "x = {reading = 'nope'}"],
            "not a canonical",
        ),
        (["--codec", str(LABS / "wl-100.js"), "00", "-m", "= ="], "not a TOML"),
        (["--device", "lorawatch-labs/wl-100", "00"], "needs 'repository'"),
        (["--repository", str(REPO), "--device", "x/../y", "00"], "VENDOR/MODEL"),
        (["--codec", str(REPO / "vendor" / "index.yaml"), "00"], "no 'uplinkDecoder'"),
        (["nope-decoder", "00"], "unknown decoder"),
        (["00"], "expected [DECODER] HEX"),
    ],
)
def test_usage_problems_exit_2_with_a_message(args: list[str], message: str) -> None:
    result = run("test", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_codec_that_fails_exits_1_with_its_error(tmp_path: Path) -> None:
    missing = run("test", "--codec", str(tmp_path / "none.js"), "00", "--fport", "1", "--json")
    assert missing.exit_code == 1
    assert "cannot read" in json.loads(missing.stdout)["errors"][0]
    wrong_port = run("test", "--codec", str(LABS / "wl-100.js"), "00", "--fport", "42", "--json")
    assert wrong_port.exit_code == 1
    assert json.loads(wrong_port.stdout)["errors"] == ["unknown FPort"]


# --- decoders verify ---------------------------------------------------------------------


def test_verify_a_codec_yaml_and_a_repository_folder() -> None:
    one = run("verify", str(LABS / "wl-100-codec.yaml"))
    assert one.exit_code == 0 and "3 passed, 0 failed" in one.stdout
    folder = run("verify", str(REPO))
    assert folder.exit_code == 0 and "6 passed, 0 failed" in folder.stdout


def test_verify_prints_a_diff_per_mismatch_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "wl.js").write_text((LABS / "wl-100.js").read_text())
    (tmp_path / "wl-codec.yaml").write_text(
        "uplinkDecoder:\n  fileName: wl.js\n  examples:\n"
        "    - description: wrong volume and an extra key\n"
        "      input: {fPort: 1, bytes: [0x00, 0x00, 0x01, 0xE2, 0x40, 0x0E, 0x10, 0x00, 0xD7]}\n"
        "      output:\n        data: {status: NoLeak, volume_l: 1, battery_v: 3.6, temperature: 21.5}\n"
        "      normalizedOutput:\n        data: [{water: {leak: true}}]\n"
        "    - description: right\n"
        "      input: {fPort: 42, bytes: '00'}\n"
        "      output: {errors: [unknown FPort]}\n"
        "    - description: unreadable bytes\n"
        "      input: {fPort: 1, bytes: [0x1FF]}\n"
    )
    result = run("verify", str(tmp_path / "wl-codec.yaml"))
    assert result.exit_code == 1
    assert "1 passed, 2 failed" in result.stdout
    assert "wl-codec.yaml[0] wrong volume and an extra key" in result.stderr
    assert "data.volume_l: expected 1, got 123456" in result.stderr
    assert "data.tamper: unexpected False" in result.stderr
    assert "normalizedOutput.data[0].water.leak: expected True, got False" in result.stderr
    assert "examples[2]: bytes: every number must be 0-255" in result.stderr


@pytest.mark.parametrize(
    "content",
    [
        "",
        "- - -\n",
        "uplinkDecoder:\n",
        "uplinkDecoder: {fileName: missing.js, examples: [{input: {fPort: 1, bytes: [0x01]}}]}\n",
        "uplinkDecoder: {fileName: x.js, examples: [{input: {fPort: 1, bytes: [0x01]}, output: {data: 3}}]}\n",
        "decoder: milesight-em300-di\nexamples: [{input: {fPort: 85, bytes: [0x01, 0x75, 0x5c]}}]\n",
        "decoder: milesight-em300-di\nexamples: [{input: {fPort: x, bytes: '01'}}]\n",
        "decoder: milesight-em300-di\nexamples: [3]\n",
        "\t: :\n",
        "uplinkDecoder: {fileName: ../../../../etc/passwd}\n",
        'uplinkDecoder: {fileName: "\\ud800\\udc00"}\n',
        'uplinkDecoder: {fileName: "a\\0b.js"}\n',
    ],
)
def test_verify_never_shows_a_traceback(tmp_path: Path, content: str) -> None:
    (tmp_path / "x.js").write_text("function decodeUplink(input) { return {data: {}}; }\n")
    path = tmp_path / "codec.yaml"
    path.write_text(content)
    result = run("verify", str(path))
    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.output


# --- decoders add ------------------------------------------------------------------------


def test_add_prints_lines_that_make_a_working_inventory(tmp_path: Path) -> None:
    result = run(
        "add", "lorawatch-labs/wl-100", "--repository", str(REPO), "--dev-eui", "00AA000000000001"
    )
    assert result.exit_code == 0, result.output
    assert "3 of 3 example(s) reproduced" in result.stdout
    assert "normalizeUplink gives canonical readings" in result.stdout
    path = tmp_path / "inventory.toml"
    path.write_text(T_HEAD + result.stdout.replace('building = ""', 'building = "b"'))
    device = inventory.load(path).devices["00aa000000000001"]
    assert isinstance(device.decoder, JSCodec)
    frame = Uplink(bytes.fromhex("030001e2410dacffec"), 1, datetime(2026, 1, 14, tzinfo=UTC))
    assert device.decoder.decode_uplink(frame).data["status"] == "Leak"


def test_add_a_profile_lists_the_fields_to_map() -> None:
    result = run("add", "lorawatch-labs/sp-300", "--repository", str(REPO), "--profile", "Plugs")
    assert result.exit_code == 0
    assert 'device_profile = "Plugs"' in result.stdout
    assert (
        '# "meters[displayName=Energy].value" = { reading = "energy_kwh", unit = "Wh" }'
        in result.stdout
    )
    assert '# "frames" = { reading = "..." }' in result.stdout


@pytest.mark.parametrize(
    ("model", "message"),
    [("nobody/x", "no vendor"), ("lorawatch-labs/none", "no none.yaml"), ("bad", "VENDOR/MODEL")],
)
def test_add_an_unknown_model(model: str, message: str) -> None:
    result = run("add", model, "--repository", str(REPO))
    assert result.exit_code == 2 and message in result.stderr


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=8),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_EXAMPLE = st.fixed_dictionaries(
    {},
    optional={
        "description": _VALUES,
        "type": st.sampled_from(["uplink", "downlink-encode", 3]),
        "input": st.one_of(
            _VALUES,
            st.fixed_dictionaries(
                {},
                optional={
                    "fPort": _VALUES | st.integers(-5, 300),
                    "bytes": _VALUES | st.lists(st.integers(-2, 300), max_size=6),
                    "recvTime": _VALUES,
                },
            ),
        ),
        "output": st.one_of(
            _VALUES,
            st.fixed_dictionaries(
                {}, optional={"data": _VALUES, "errors": _VALUES, "warnings": _VALUES}
            ),
        ),
        "normalizedOutput": _VALUES,
        "readings": _VALUES,
        "params": _VALUES,
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["codec", "vectors"]),
    examples=st.one_of(_VALUES, st.lists(_EXAMPLE, max_size=3)),
    file_name=st.one_of(_VALUES, st.just("x.js")),
)
def test_no_file_content_makes_verify_crash(
    tmp_path: Path, kind: str, examples: object, file_name: object
) -> None:
    """Any YAML a codec or vectors file may hold: an answer and an exit code."""
    (tmp_path / "x.js").write_text(
        "function decodeUplink(input) { return {data: {b: input.bytes}}; }\n"
    )
    if kind == "codec":
        doc: object = {"uplinkDecoder": {"fileName": file_name, "examples": examples}}
    else:
        doc = {"decoder": "milesight-em300-di", "examples": examples}
    path = tmp_path / "fuzz.yaml"
    path.write_text(json.dumps(doc, default=str))  # JSON is YAML
    result = run("verify", str(path))
    assert result.exit_code in (0, 1, 2)


def test_verify_a_device_yaml_runs_its_codec() -> None:
    result = run("verify", str(LABS / "sp-300.yaml"))
    assert result.exit_code == 0 and "1 passed, 0 failed" in result.stdout
