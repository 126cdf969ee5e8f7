"""The inventory is checked in one pass at start: every bad entry named, with what is wrong."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorawatch import inventory
from lorawatch.app.cli.main import app
from lorawatch.core.errors import InventoryError
from lorawatch.decoders import registry
from tests.conftest import DATA

HEAD = '[[communes]]\nid = "c"\nname = "C"\nlatitude = 48.2\nlongitude = -1.6\n[[buildings]]\nid = "b"\ncommune = "c"\nname = "B"\n'


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "inventory.toml"
    path.write_text(HEAD + body)
    return path


def test_every_bad_entry_is_named_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[devices]]\ndev_eui = "0000000000000001"\nname = "a"\ndecoder = "no-such-decoder"\nbuilding = "b"\n'
        '[[devices]]\ndev_eui = "0000000000000002"\nname = "b"\ndecoder = "milesight-em300-di"\nbuilding = "b"\n'
        "params = { pulses_per_kwhh = 1000 }\n"
        '[[devices]]\ndev_eui = "0000000000000003"\nname = "c"\ndecoder = "milesight-em300-di"\nbuilding = "nowhere"\n'
        '[[devices]]\ndev_eui = "0000000000000004"\nname = "d"\ndecoder = "milesight-em300-di"\n'
        'params = { pulses_per_kwh = "many" }\n'
        '[[devices]]\ndev_eui = "0000000000000005"\nname = "e"\n',
    )
    with pytest.raises(InventoryError) as info:
        inventory.load(path)
    text = str(info.value)
    assert "devices[0] (0000000000000001 a)" in text and "unknown decoder 'no-such-decoder'" in text
    assert "unknown parameter 'pulses_per_kwhh'" in text
    assert "unknown building 'nowhere'" in text
    assert "parameter 'pulses_per_kwh': expected a number, got 'many'" in text
    assert "needs a decoder or a mapping" in text
    assert len(info.value.problems) == 5


def test_malformed_entries_name_their_field(tmp_path: Path) -> None:
    path = write(tmp_path, '[[devices]]\ndev_eui = "xyz"\ndecoder = "milesight-em300-di"\n')
    with pytest.raises(InventoryError) as info:
        inventory.load(path)
    assert info.value.problems[0][0] == "devices.0.dev_eui"


def test_run_refuses_a_bad_inventory_with_exit_code_2(tmp_path: Path) -> None:
    inv = write(tmp_path, '[[devices]]\ndev_eui = "0000000000000001"\ndecoder = "nope"\n')
    cfg = tmp_path / "lorawatch.toml"
    cfg.write_text(
        f'[inventory]\npath = "{inv}"\n[store.sqlite]\npath = "{tmp_path / "x.sqlite"}"\n'
    )
    result = CliRunner().invoke(app, ["run", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "unknown decoder 'nope'" in result.output


def test_a_device_is_found_by_its_chirpstack_profile_and_tags() -> None:
    inv = inventory.load(DATA / "inventory.toml")
    tags = {"building": "mairie", "pulses_per_kwh": "500", "commune": "saint-sulpice-la-foret"}
    device = inv.resolve("24e124136d999999", "Milesight EM300-DI (EU868)", tags, "compteur")
    assert device is not None and device.decoder is not None
    assert device.params["pulses_per_kwh"] == 500.0
    assert (device.building, device.commune, device.name) == (
        "mairie",
        "saint-sulpice-la-foret",
        "compteur",
    )
    assert inv.resolve("24e124136d888888", "Some Other Profile", {}) is None


def test_a_plugin_package_adds_its_decoder_through_the_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third-party decoder, found through an installed package's entry point."""
    pkg = tmp_path / "lorawatch_acme"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from lorawatch.decoders.base import Decoder\n"
        "class Thing(Decoder):\n"
        "    name = 'acme-thing'\n    vendor = 'Acme'\n    device = 'Thing'\n    family = 'generic'\n"
        "    readings = ('temperature_c',)\n"
        "    def decode(self, uplink, warnings):\n        return {'t': uplink.payload[0]}\n"
        "    def normalise(self, data, params, time):\n        return []\n"
    )
    dist = tmp_path / "lorawatch_acme-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lorawatch-acme\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[lorawatch.decoders]\nacme-thing = lorawatch_acme:Thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        assert "acme-thing" in registry.names()
        assert registry.get("acme-thing").name == "acme-thing"
    finally:
        registry._classes.pop("acme-thing", None)
        registry._instances.pop("acme-thing", None)
        sys.modules.pop("lorawatch_acme", None)
