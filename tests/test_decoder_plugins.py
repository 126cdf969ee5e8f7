"""Decoder plugins (entry point ``lorawatch.decoders``): a name clash is reported, not a crash;
a plugin's own vectors are found beside it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorawatch.app.cli.main import app
from lorawatch.decoders import registry, vectors

PLUGIN = """
from lorawatch.decoders.base import Decoder
from lorawatch.core.readings import Reading

class Thing(Decoder):
    name = 'acme-thing'
    vendor = 'Acme'
    device = 'Thing'
    family = 'generic'
    readings = ('temperature_c',)
    def decode(self, uplink, warnings):
        return {'t': uplink.payload[0]}
    def normalise(self, data, params, time):
        return [Reading('temperature_c', float(data['t']), time)]

class Impostor(Thing):
    name = 'milesight-em300-di'
"""

VECTORS = """decoder: acme-thing
examples:
  - description: one byte of temperature
    input: {fPort: 1, bytes: [0x15]}
    output: {data: {t: 21}}
    readings:
      - {name: temperature_c, value: 21}
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    pkg = tmp_path / "lorawatch_acme"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(PLUGIN)
    (pkg / "acme_thing.yaml").write_text(VECTORS)
    (pkg / "unrelated.yaml").write_text("decoder: someone-else\nexamples: []\n")
    dist = tmp_path / "lorawatch_acme-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lorawatch-acme\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[lorawatch.decoders]\n"
        "acme-thing = lorawatch_acme:Thing\n"
        "impostor = lorawatch_acme:Impostor\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_problems", [])
    try:
        yield pkg
    finally:
        registry._classes.pop("acme-thing", None)
        registry._instances.pop("acme-thing", None)
        sys.modules.pop("lorawatch_acme", None)


def test_a_clashing_plugin_is_left_out_and_reported(plugin: Path) -> None:
    assert "acme-thing" in registry.names()
    assert registry.get("milesight-em300-di").__class__.__module__.startswith("lorawatch.")
    (problem,) = registry.problems()
    assert "decoder plugin 'impostor'" in problem
    assert "'milesight-em300-di' is taken" in problem


def test_decoders_list_shows_the_problem_and_goes_on(plugin: Path) -> None:
    result = CliRunner().invoke(app, ["decoders", "list"])
    assert result.exit_code == 0, result.output
    assert "acme-thing" in result.stdout
    assert "impostor" in result.stderr and "is taken" in result.stderr


def test_a_plugins_vectors_are_found_and_pass(plugin: Path) -> None:
    registry.names()
    files = vectors.plugin_files()
    assert files == [plugin / "acme_thing.yaml"]
    outcomes = [vectors.run(example) for example in vectors.load(files[0])]
    assert [o.problems for o in outcomes] == [[]]
    assert not registry.is_builtin(type(registry.get("acme-thing")))
    assert registry.is_builtin(type(registry.get("milesight-em300-di")))


def test_config_check_reports_the_clash(plugin: Path, tmp_path: Path) -> None:
    config = tmp_path / "lorawatch.toml"
    (tmp_path / "inventory.toml").write_text("", encoding="utf-8")  # an empty inventory is valid
    config.write_text(
        f'[inventory]\npath = "{tmp_path / "inventory.toml"}"\n'
        f'[store.sqlite]\npath = "{tmp_path / "lw.sqlite"}"\n'
    )
    result = CliRunner().invoke(app, ["config", "check", str(config)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stderr.split())
    assert "decoder plugin 'impostor' (lorawatch_acme:Impostor) is not loaded" in text
