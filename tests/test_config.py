"""Configuration: the template checks, every error is reported at once, secrets never print."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from lorawatch.app import config
from lorawatch.app.cli.main import app
from lorawatch.core.errors import ConfigError

runner = CliRunner()


def test_template_is_valid_and_documents_every_option(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "init"])
    assert result.exit_code == 0
    text = result.stdout

    def check(section: str, model: type[BaseModel]) -> None:
        assert f"[{section}]" in text
        for name, field in model.model_fields.items():
            sub = field.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                check(f"{section}.{name}", sub)
            else:
                assert f"\n{name} = " in text or f"# {name} = " in text, f"{section}.{name} missing"

    for section, field in config.Settings.model_fields.items():
        assert isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        check(section, field.annotation)
    path = tmp_path / "f.toml"
    path.write_text(text)
    check = runner.invoke(app, ["config", "check", str(path)])
    assert check.exit_code == 2, "the template's inventory.toml does not exist yet"
    assert "inventory.path" in check.output and "lorawatch init" in check.output
    (tmp_path / "inventory.toml").write_text(
        (Path(config.__file__).parents[1] / "inventory" / "template.toml").read_text()
    )
    check = runner.invoke(app, ["config", "check", str(path)])
    assert check.exit_code == 0, check.output


def test_check_names_a_wrong_type_an_unknown_key_and_a_missing_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[mqtt]\nqos = "twice"\nport_typo = 1883\n[store]\nbatch_size = -3\n')
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    for key in ("inventory", "mqtt.qos", "mqtt.port_typo", "store.batch_size"):
        assert key in result.output, result.output


def test_environment_overrides_the_file_and_secrets_stay_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[inventory]\npath = "inv.toml"\n[mqtt]\npassword = "from-file"\n')
    monkeypatch.setenv("LORAWATCH__MQTT__PASSWORD", "hunter2-from-env")
    monkeypatch.setenv("LORAWATCH__STORE__BATCH_SIZE", "77")
    settings = config.load(path)
    assert settings.mqtt.secret() == "hunter2-from-env"
    assert settings.store.batch_size == 77
    assert settings.inventory.path == tmp_path / "inv.toml"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def test_secret_from_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    path = tmp_path / "c.toml"
    path.write_text(f'[inventory]\npath = "i.toml"\n[mqtt]\npassword_file = "{tmp_path / "pw"}"\n')
    assert config.load(path).mqtt.secret() == "s3cret"


def test_a_wrong_secret_is_reported_without_its_value(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[inventory]\npath = "i.toml"\n[store.influxdb]\ntoken = ["hunter2"]\n')
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert "store.influxdb.token" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_require_tls_refuses_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[inventory]\npath = "i.toml"\n[mqtt]\nrequire_tls = true\nurl = "mqtt://broker:1883"\n'
    )
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.problems[0][0] == "mqtt"
    assert "mqtts://" in info.value.problems[0][1]


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [("", None, "auto"), ("gzip = false", None, False), ("", "true", True), ("", "Auto", "auto")],
)
def test_influxdb_gzip_is_true_false_or_auto(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    env: str | None,
    expected: object,
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[inventory]\npath = "i.toml"\n[store.influxdb]\n{text}\n')
    if env is not None:
        monkeypatch.setenv("LORAWATCH__STORE__INFLUXDB__GZIP", env)
    assert config.load(path).store.influxdb.gzip == expected


def test_a_wrong_gzip_names_the_three_choices_once_in_the_readers_language(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[inventory]\npath = "i.toml"\n[store.influxdb]\ngzip = "maybe"\n')
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.problems == [
        ("store.influxdb.gzip", "possible values: true, false or 'auto' (got 'maybe')")
    ]
    said = runner.invoke(app, ["--lang", "fr", "config", "check", str(path)]).output
    assert "store.influxdb.gzip: valeurs possibles : true, false ou 'auto'" in said, said


def test_not_toml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[mqtt\n")
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert "not valid TOML" in result.output


def test_every_command_has_help() -> None:
    """--help works on every command and sub-command (run as a real process)."""
    commands = [[], ["config"], ["config", "init"], ["config", "check"], ["run"], ["demo"]]
    for group in ("decoders", "deadletters"):
        commands.append([group])
    for args in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "lorawatch", *args, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Usage" in proc.stdout
