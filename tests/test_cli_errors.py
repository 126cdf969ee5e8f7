"""User errors as a newcomer meets them: one line naming the fix, a documented exit code, no
traceback, and nothing destroyed that the failing command did not create."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lorawatch.app import config
from lorawatch.app.cli.main import app
from lorawatch.app.runner import DEMO_MARK, demo_workdir
from lorawatch.core.errors import ConfigError
from lorawatch.gateway_bridge.settings import MqttConfig
from tests.servers import free_port

TEMPLATE = Path(config.__file__).parents[1] / "inventory" / "template.toml"


def lorawatch(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The command line as a user runs it: a real process, through ``main()``."""
    return subprocess.run(
        [sys.executable, "-m", "lorawatch", "--log-format", "json", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The same command in this process (no interpreter start-up): for errors each command
    reports itself; what only ``main()`` catches is tested through :func:`lorawatch`."""
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def assert_user_error(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    text = proc.stdout + proc.stderr
    assert proc.returncode == code, text
    assert "Traceback" not in text, text
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())  # rich's error box, wrapped
    for word in words:
        assert word in text, text


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory as ``lorawatch init`` leaves it."""
    proc = lorawatch("init", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    return tmp_path


def a_store_of_a_demo(workdir: Path) -> bytes:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / DEMO_MARK).touch()
    content = b"the running demo's data"
    (workdir / "lorawatch.sqlite").write_bytes(content)
    return content


def test_a_second_demo_fails_on_the_lock_and_deletes_nothing(tmp_path: Path) -> None:
    content = a_store_of_a_demo(tmp_path)
    with demo_workdir(tmp_path):  # the first demo holds its directory
        proc = lorawatch("demo", "--workdir", str(tmp_path), "--port", "0")
    assert_user_error(proc, 3, "another lorawatch demo", f"pid {os.getpid()}", "--workdir")
    assert (tmp_path / "lorawatch.sqlite").read_bytes() == content


def test_demo_on_a_busy_port_deletes_nothing(tmp_path: Path, busy_port: int) -> None:
    content = a_store_of_a_demo(tmp_path)
    proc = lorawatch("demo", "--workdir", str(tmp_path), "--port", str(busy_port))
    assert_user_error(proc, 3, "--port", str(busy_port), "in use")
    assert (tmp_path / "lorawatch.sqlite").read_bytes() == content


def test_demo_refuses_a_store_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "lorawatch.sqlite").write_bytes(b"production data")
    with pytest.raises(ConfigError) as info, demo_workdir(tmp_path):
        pass
    assert info.value.problems[0][0] == "--workdir"
    assert (tmp_path / "lorawatch.sqlite").read_bytes() == b"production data"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["demo", "--port", "99999"], ["--port", "65535"]),
        (["demo", "--workdir", "/proc/lorawatch-demo", "--port", "0"], ["--workdir", "cannot use"]),
        (["--log-level", "loud", "config", "init"], ["--log-level", "debug, info"]),
        (["nonsense-command"], ["no such command", "nonsense-command"]),
    ],
)
def test_bad_flags_are_usage_errors(args: list[str], words: list[str]) -> None:
    assert_user_error(lorawatch(*args), 2, *words)


def test_run_on_a_busy_port(project: Path, busy_port: int) -> None:
    env = {
        "LORAWATCH__HTTP__LISTEN": f"127.0.0.1:{busy_port}",
        "LORAWATCH__MQTT__URL": "mqtt://127.0.0.1:9",
    }
    proc = lorawatch("run", "-c", "lorawatch.toml", cwd=project, env=env)
    assert_user_error(proc, 3, "http.listen", str(busy_port), "in use")


@pytest.mark.parametrize(
    ("env", "key", "words"),
    [
        ({"LORAWATCH__HTTP__LISTEN": "nonsense"}, "http.listen", ["host:port"]),
        ({"LORAWATCH__HTTP__LISTEN": "127.0.0.1:70000"}, "http.listen", ["0..65535"]),
        (
            {"LORAWATCH__STORE__SQLITE__PATH": "afile/x.sqlite"},
            "store.sqlite.path",
            ["not a directory"],
        ),
        ({"LORAWATCH__STORE__SQLITE__PATH": "/proc/x/x.sqlite"}, "store.sqlite.path", ["cannot"]),
        ({"LORAWATCH__MQTT__URL": "mqtt://u:p@broker"}, "mqtt.url", ["mqtt.username", "PASSWORD"]),
        ({"LORAWATCH__MQTT__URL": "mqtt://broker:1883/topic"}, "mqtt.url", ["no path"]),
        ({"LORAWATCH__MQTT__URL": "http://broker"}, "mqtt.url", ["mqtt://"]),
        (
            {"LORAWATCH__MQTT__PASSWORD_FILE": "no-such-file"},
            "mqtt.password_file",
            ["does not exist"],
        ),
        ({"LORAWATCH__INVENTORY__PATH": "missing.toml"}, "inventory.path", ["lorawatch init"]),
        (
            {"LORAWATCH__ALERTS__EVALUATOR": "elected"},
            "alerts.evaluator",
            ["state.backend", "postgresql"],
        ),
    ],
)
def test_config_check_catches_what_run_would_crash_on(
    project: Path, env: dict[str, str], key: str, words: list[str]
) -> None:
    (project / "afile").write_text("a file, not a folder")
    check = cli("config", "check", "lorawatch.toml", cwd=project, env=env)
    assert_user_error(check, 2, key, *words)
    run = cli("run", "-c", "lorawatch.toml", cwd=project, env=env)
    assert_user_error(run, 2, key, *words)


@pytest.mark.parametrize(
    ("url", "tls", "host", "port"),
    [
        ("mqtts://[::1]:8883", True, "::1", 8883),
        ("mqtt://broker:1883/", False, "broker", 1883),
        ("mqtts://broker", True, "broker", 8883),
        ("mqtt://10.0.0.2", False, "10.0.0.2", 1883),
    ],
)
def test_broker_urls(url: str, tls: bool, host: str, port: int) -> None:
    cfg = MqttConfig.model_validate({"url": url})
    assert (cfg.tls, cfg.host, cfg.port) == (tls, host, port)


def test_init_writes_a_checked_pair_and_never_overwrites(tmp_path: Path) -> None:
    assert lorawatch("init", str(tmp_path)).returncode == 0
    check = lorawatch("config", "check", str(tmp_path / "lorawatch.toml"))
    assert check.returncode == 0, check.stderr
    assert "5 device(s), 1 building(s)" in check.stdout
    (tmp_path / "inventory.toml").write_text("# my own devices\n")
    again = lorawatch("init", str(tmp_path))
    assert_user_error(again, 2, "already exist", "--force")
    assert (tmp_path / "inventory.toml").read_text() == "# my own devices\n"


def test_init_after_config_init_writes_only_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "lorawatch.toml").write_text(config.template() + "\n# mine\n")
    proc = cli("init", ".", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "kept lorawatch.toml" in proc.stdout
    assert (tmp_path / "lorawatch.toml").read_text().endswith("# mine\n")
    check = cli("config", "check", "lorawatch.toml", cwd=tmp_path)
    assert check.returncode == 0, check.stderr


def test_dashboards_build_into_an_unwritable_folder(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    proc = lorawatch(
        "dashboards", "build", "-i", str(TEMPLATE), "--out", str(tmp_path / "afile" / "g")
    )
    assert_user_error(proc, 2, "--out")


def test_decoders_verify_on_broken_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "v.yaml"
    bad.write_text("examples:\n  - id: [unclosed\n")
    assert_user_error(lorawatch("decoders", "verify", str(bad)), 2, str(bad))


WATER = "70b3d54750200001"  # the template's water meter
ENERGY = "24e124136b400001"  # its electricity meter
LEAK = "24e124710b420001"  # its leak probe


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["24e124136d123456"], ["DEV_EUI", "in no device of", "inventory.toml"]),
        ([WATER, "--name", "energy_kwh"], ["--name", "water device", "volume_m3"]),
        ([LEAK], ["DEV_EUI", "no meter index"]),
        ([ENERGY, "--start-index", "-5"], ["--start-index"]),
        ([ENERGY, "--at", "2030-01-01T00:00:00+01:00"], ["--at", "in the future"]),
    ],
)
def test_meters_reset_refuses_what_could_not_be_applied(
    project: Path, args: list[str], words: list[str]
) -> None:
    proc = cli("meters", "reset", "-c", "lorawatch.toml", *args, cwd=project)
    assert_user_error(proc, 2, *words)
    listed = cli("meters", "list", "-c", "lorawatch.toml", cwd=project)
    assert "replace" not in listed.stdout, "a refused command must not be recorded"


def test_meters_reset_takes_the_index_the_device_counts(project: Path) -> None:
    proc = lorawatch("meters", "reset", "-c", "lorawatch.toml", WATER, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "volume_m3 replaced" in proc.stdout
    calibrated = lorawatch(
        "meters", "calibrate", "-c", "lorawatch.toml", ENERGY, "--offset", "2.5", cwd=project
    )
    assert calibrated.returncode == 0, calibrated.stderr
    listed = lorawatch("meters", "list", "-c", "lorawatch.toml", cwd=project, env={"COLUMNS": "80"})
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(WATER in line and "volume_m3" in line for line in lines), listed.stdout
    assert any(ENERGY in line and "energy_kwh" in line for line in lines), listed.stdout


def test_alerts_list_names_the_valid_kinds(project: Path) -> None:
    proc = cli("alerts", "list", "-c", "lorawatch.toml", "--kind", "nonsense", cwd=project)
    assert_user_error(proc, 2, "--kind", "water", "fleet.silent")
    ok = cli("alerts", "list", "-c", "lorawatch.toml", "--kind", "water.leak", cwd=project)
    assert ok.returncode == 0 and "0 alert(s)" in ok.stdout


@pytest.mark.parametrize("fport", ["999", "-1"])
def test_decoders_test_takes_an_application_fport(fport: str) -> None:
    proc = lorawatch("decoders", "test", "milesight-em300-di", "0175", "--fport", fport)
    assert_user_error(proc, 2, "--fport")


def test_decoders_list_json() -> None:
    import json

    proc = lorawatch("decoders", "list", "--json")
    doc = json.loads(proc.stdout)
    by_name = {d["name"]: d for d in doc}
    assert by_name["milesight-em300-di"]["family"] == "energy"
    assert "energy_kwh" in by_name["milesight-em300-di"]["readings"]


def test_decoders_list_keeps_names_whole_at_80_columns() -> None:
    from lorawatch.decoders import registry

    proc = lorawatch("decoders", "list", env={"COLUMNS": "80"})
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    for cls in registry.classes():
        assert cls.name in proc.stdout


def test_run_honours_the_global_log_flags(project: Path) -> None:
    env = {
        **os.environ,
        "LORAWATCH__MQTT__URL": f"mqtt://127.0.0.1:{free_port()}",
        "LORAWATCH__HTTP__LISTEN": "127.0.0.1:0",
        "LORAWATCH__MQTT__RECEIVER": "thread",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lorawatch",
            "--log-level",
            "warning",
            "--log-format",
            "console",
            "run",
            "-c",
            "lorawatch.toml",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "mqtt connection failed" in line:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    text = "".join(lines)
    assert "mqtt connection failed; retrying" in text and "[warning" in text, text
    assert "lorawatch started" not in text, "an info line despite --log-level warning"
    assert not any(line.startswith("{") for line in lines), "JSON despite --log-format console"


def test_live_simulation_stops_cleanly_on_sigterm(mosquitto: Any) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lorawatch",
            "simulate",
            "saint-sulpice",
            "--broker",
            mosquitto.url,
            "--speed",
            "600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
        assert first.startswith("simulating"), first
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    assert "simulator stopped:" in rest and "Traceback" not in rest, rest
