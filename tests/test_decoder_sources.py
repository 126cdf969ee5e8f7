"""Where a device's codec comes from: a file, a Device Repository folder, ChirpStack tags.

The repository used here (tests/js_codecs/repository) is laid out like TTN's lorawan-devices
with devices and codecs written for these tests.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lorawatch import inventory
from lorawatch.core.errors import InventoryError
from lorawatch.decoders import registry, repository
from lorawatch.decoders.base import Uplink, readings_of
from lorawatch.decoders.js import JSCodec

CODECS = Path(__file__).parent / "js_codecs"
REPO = CODECS / "repository"
LABS = REPO / "vendor" / "lorawatch-labs"
T = datetime(2026, 1, 14, 9, 26, 53, tzinfo=UTC)
HEAD = (
    '[[communes]]\nid = "c"\nname = "C"\nlatitude = 48.2\nlongitude = -1.6\n'
    '[[buildings]]\nid = "b"\ncommune = "c"\nname = "B"\n'
)


def write(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "inventory.toml"
    path.write_text(HEAD + body)
    return path


# --- the repository layout ----------------------------------------------------------------


def test_a_model_is_found_with_its_codec_and_examples() -> None:
    repo = repository.Repository(REPO)
    assert repo.check() is None
    assert repo.vendors() == ["lorawatch-labs"]
    assert repo.models("lorawatch-labs") == ["ll-50", "sp-300", "wl-100"]
    model = repo.model("lorawatch-labs/wl-100")
    assert model.name == "WL-100 water meter with leak detection"
    assert model.codecs == ("wl-100-codec",)
    codec = repo.codec_of("lorawatch-labs/wl-100")
    assert codec.script == (LABS / "wl-100.js").resolve()
    assert codec.problems == []
    first, hexed, bad_port = codec.examples
    assert first.payload == bytes.fromhex("000001e2400e1000d7") and first.f_port == 1
    assert hexed.payload == bytes.fromhex("030001e2410dacffec")
    assert bad_port.f_port == 42 and bad_port.output == {"errors": ["unknown FPort"]}


@pytest.mark.parametrize(
    ("ident", "message"),
    [
        ("lorawatch-labs", "expected VENDOR/MODEL"),
        ("../etc/passwd", "expected VENDOR/MODEL"),
        ("lorawatch-labs/../../x", "expected VENDOR/MODEL"),
        ("nobody/x", "no vendor 'nobody'"),
        ("lorawatch-labs/zz-9", "no zz-9.yaml"),
    ],
)
def test_bad_model_ids_are_refused_with_the_reason(ident: str, message: str) -> None:
    with pytest.raises(repository.RepositoryError, match=message):
        repository.Repository(REPO).model(ident)


def test_a_codec_file_cannot_leave_its_vendor_folder(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor" / "v"
    vendor.mkdir(parents=True)
    (vendor / "m.yaml").write_text(
        "firmwareVersions:\n  - profiles: {EU863-870: {codec: m-codec}}\n"
    )
    (vendor / "m-codec.yaml").write_text("uplinkDecoder:\n  fileName: ../../../secret.js\n")
    with pytest.raises(repository.RepositoryError, match="leaves"):
        repository.Repository(tmp_path).codec_of("v/m")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "no 'uplinkDecoder' mapping"),
        ("uplinkDecoder: [1, 2]\n", "no 'uplinkDecoder' mapping"),
        ("uplinkDecoder:\n  examples: []\n", "fileName"),
        ("uplinkDecoder: {fileName: x.js, examples: 3}\n", "examples must be a list"),
        ("uplinkDecoder: {fileName: x.js\n", "not valid YAML"),
        ("\tuplinkDecoder: 1\n", "not valid YAML"),
    ],
)
def test_malformed_codec_yaml_is_an_error_not_a_crash(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(body)
    with pytest.raises(repository.RepositoryError, match=message):
        repository.load_codec(path)


@pytest.mark.parametrize(
    ("example", "message"),
    [
        ("{input: {fPort: 1, bytes: [0x100]}}", "0-255"),
        ("{input: {fPort: 1, bytes: [1, 'a']}}", "must be a number"),
        ("{input: {fPort: 1, bytes: 'zz'}}", "neither hexadecimal nor base64"),
        ("{input: {fPort: 256, bytes: [1]}}", "not a LoRaWAN port"),
        ("{input: {fPort: -1, bytes: [1]}}", "not a LoRaWAN port"),
        ("{input: {fPort: true, bytes: [1]}}", "fPort"),
        ("{input: 3}", "input"),
        ("{input: {fPort: 1, bytes: [1]}, output: [1]}", "output"),
        ("{input: {fPort: 1, bytes: [1], recvTime: 'noon'}}", "recvTime"),
        ("7", "mapping"),
    ],
)
def test_a_bad_example_is_reported_and_the_others_kept(
    tmp_path: Path, example: str, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "uplinkDecoder:\n  fileName: x.js\n  examples:\n"
        f"    - {example}\n    - {{input: {{fPort: 2, bytes: [1]}}}}\n"
    )
    codec = repository.load_codec(path)
    assert [e.f_port for e in codec.examples] == [2]
    (problem,) = codec.problems
    assert problem.startswith("examples[0]: ") and message in problem


# --- the js decoder bound to a repository device -------------------------------------------


def test_the_js_decoder_runs_a_repository_device_and_its_normalized_output() -> None:
    shared = registry.get("js")
    params, problems = shared.resolve_params(
        {"repository": str(REPO), "device": "lorawatch-labs/wl-100"}
    )
    assert problems == []
    decoder = shared.bind(params)
    assert isinstance(decoder, JSCodec) and decoder.codec == (LABS / "wl-100.js").resolve()
    for example in repository.Repository(REPO).codec_of("lorawatch-labs/wl-100").examples:
        result = decoder.decode_uplink(Uplink(example.payload, example.f_port, T))
        assert example.problems(result) == [], example.description
    result = decoder.decode_uplink(Uplink(bytes.fromhex("030001e2410dacffec"), 1, T))
    got = {(r.name, r.value) for r in readings_of(decoder, result, params, T)}
    assert got == {
        ("leak", True),
        ("volume_m3", 123.457),
        ("temperature_c", -2.0),
        ("battery_v", 3.5),
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "needs its 'codec' parameter"),
        ({"device": "lorawatch-labs/wl-100"}, "needs 'repository'"),
        ({"repository": str(REPO), "device": "lorawatch-labs/none"}, "no none.yaml"),
        (
            {"codec": "x.js", "repository": str(REPO), "device": "lorawatch-labs/wl-100"},
            "not both",
        ),
    ],
)
def test_binding_problems_are_value_errors(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        registry.get("js").bind(params)


def test_a_codec_yaml_can_stand_for_its_js_file() -> None:
    decoder = registry.get("js").bind({"codec": str(LABS / "ll-50-codec.yaml")})
    assert isinstance(decoder, JSCodec) and decoder.codec == (LABS / "ll-50.js").resolve()


# --- the inventory: relative paths, profiles, tags -----------------------------------------


def test_relative_codec_and_repository_paths_are_relative_to_the_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "site"
    (folder / "codecs").mkdir(parents=True)
    (folder / "codecs" / "wl.js").write_text((LABS / "wl-100.js").read_text())
    path = write(
        folder,
        '[[devices]]\ndev_eui = "0000000000000001"\ndecoder = "js"\nbuilding = "b"\n'
        'params = { codec = "codecs/wl.js" }\n'
        '[[profiles]]\ndevice_profile = "WL-100"\ndecoder = "js"\n'
        'params = { codec = "codecs/wl.js" }\n',
    )
    monkeypatch.chdir(tmp_path)  # not the inventory's folder
    inv = inventory.load(path)
    frame = Uplink(bytes.fromhex("000001e2400e1000d7"), 1, T)
    fixed = inv.devices["0000000000000001"].decoder
    by_profile = inv.resolve("00000000000000aa", "WL-100", {"building": "b"})
    assert fixed is not None and by_profile is not None and by_profile.decoder is not None
    assert fixed.decode_uplink(frame).data["volume_l"] == 123456
    assert by_profile.decoder.decode_uplink(frame).data["volume_l"] == 123456


def test_a_missing_relative_codec_in_a_profile_fails_the_check(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[profiles]]\ndevice_profile = "X"\ndecoder = "js"\nparams = { codec = "nope.js" }\n',
    )
    with pytest.raises(InventoryError) as info:
        inventory.load(path)
    assert "profiles[X]" in str(info.value)
    assert str(tmp_path / "nope.js") in str(info.value)


def test_tags_pick_a_repository_model_but_never_a_file_or_a_limit(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[profiles]]\ndevice_profile = "Labs"\ndecoder = "js"\n'
        f'params = {{ repository = "{REPO}", device = "lorawatch-labs/wl-100", '
        "time_limit_ms = 50 }\n",
    )
    inv = inventory.load(path)
    hostile = {
        "device": "lorawatch-labs/ll-50",
        "codec": str(CODECS / "loop.js"),
        "repository": "/",
        "time_limit_ms": "60000",
        "memory_limit_mb": "4096",
    }
    found = inv.resolve("00000000000000bb", "Labs", hostile)
    assert found is not None and isinstance(found.decoder, JSCodec)
    assert found.decoder.codec == (LABS / "ll-50.js").resolve()
    assert (found.decoder.time_limit_ms, found.decoder.memory_limit_mb) == (50.0, 16.0)
    assert found.params["repository"] == str(REPO)


def test_a_tag_naming_an_unknown_model_dead_letters_instead_of_crashing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[profiles]]\ndevice_profile = "Labs"\ndecoder = "js"\n'
        f'params = {{ repository = "{REPO}", device = "lorawatch-labs/wl-100" }}\n',
    )
    inv = inventory.load(path)
    found = inv.resolve("00000000000000cc", "Labs", {"device": "../../etc/passwd"})
    assert found is not None and found.decoder is not None
    result = found.decoder.decode_uplink(Uplink(b"\x00", 1, T))
    assert not result.ok
    assert "profile 'Labs'" in result.errors[0] and "VENDOR/MODEL" in result.errors[0]


def test_the_js_decoder_is_registered_in_a_fresh_process() -> None:
    """The service imports no decoder module itself: the registry must load ``js`` too."""
    code = "from lorawatch.decoders import registry; print(sorted(registry.names()))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "'js'" in proc.stdout
