"""The README's command sequence runs exactly as printed, in an empty folder, in its order.

Only what the README leaves to the reader's machine is given: the broker (a private
Mosquitto on a free port, through ``LORAWATCH__MQTT__URL``) and a free HTTP port.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.servers import Mosquitto

README = Path(__file__).parents[1] / "README.md"


def readme_commands() -> list[str]:
    """The lines of the README's sh block that starts with ``lorawatch init``."""
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        lines = [line for line in block.splitlines() if line.strip()]
        if lines and lines[0].startswith("lorawatch init"):
            return [re.split(r"\s+#\s", line, maxsplit=1)[0].strip() for line in lines]
    raise AssertionError("no sh block starting with `lorawatch init` in the README")


def test_the_readme_sequence_runs_as_printed(tmp_path: Path, mosquitto: Mosquitto) -> None:
    commands = readme_commands()
    assert len(commands) >= 8 and all(c.startswith("lorawatch ") for c in commands)
    env = {
        **os.environ,
        "COLUMNS": "120",
        "LORAWATCH__MQTT__URL": mosquitto.url,
        "LORAWATCH__HTTP__LISTEN": "127.0.0.1:0",
    }
    for command in commands:
        argv = [sys.executable, "-m", "lorawatch", *shlex.split(command)[1:]]
        if argv[3] == "run":
            output, code = run_service_until_subscribed(argv, tmp_path, env)
        else:
            proc = subprocess.run(
                argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
            )
            output, code = proc.stdout + proc.stderr, proc.returncode
        assert code == 0, f"{command}\n{output}"
        assert "Traceback" not in output and "error" not in output.lower(), f"{command}\n{output}"
    assert (tmp_path / "grafana" / "dashboards").is_dir()
    assert (tmp_path / "var" / "lorawatch.sqlite").is_file()


def run_service_until_subscribed(
    argv: list[str], cwd: Path, env: dict[str, str]
) -> tuple[str, int | None]:
    """``lorawatch run`` until it has subscribed on the broker, then SIGTERM: a clean stop."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "mqtt subscribed" in line:
                proc.send_signal(signal.SIGTERM)
                break
        lines += proc.stdout.readlines()
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    text = "".join(lines)
    assert "mqtt subscribed" in text, text
    return text, code


def test_every_inventory_field_is_documented() -> None:
    from lorawatch import inventory
    from lorawatch.decoders.mapping import FieldMapping

    text = (README.parent / "docs" / "inventory.md").read_text(encoding="utf-8")
    models = {
        "communes": inventory.Commune,
        "buildings": inventory.Building,
        "devices": inventory.Device,
        "profiles": inventory.Profile,
        "fleets": inventory.Fleet,
    }
    for table, model in models.items():
        section = text.split(f"## `[[{table}]]`", 1)[1].split("\n## ", 1)[0]
        for name in model.model_fields:
            assert f"| `{name}` |" in section, f"[[{table}]] {name} is not documented"
    for name in FieldMapping.model_fields:
        assert f"{name} = " in text, f"mapping {name} is not documented"
    for name in inventory.InventoryFile.model_fields:
        assert f"`[[{name}]]`" in text or f"`[{name}]`" in text or f"## `{name}`" in text, (
            f"{name} is not documented"
        )


def test_the_inventory_template_has_one_device_of_each_family() -> None:
    from lorawatch import inventory

    template = README.parent / "lorawatch" / "inventory" / "template.toml"
    inv = inventory.load(template)
    assert len(inv.communes) == 1 and len(inv.buildings) == 1
    families = {d.decoder.family for d in inv.devices.values() if d.decoder}
    assert families >= {"energy", "water", "waste", "lighting"}
    kinds = sorted(d.kind for d in inv.devices.values())
    assert kinds == ["bin", "electricity", "leak", "streetlight", "water"]
    assert template.read_text().count("\n#") >= 5, "the template explains itself"
