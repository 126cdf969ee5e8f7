"""The command line in one language: every operator message from the catalogue, French or
English from the first line to the last, chosen as docs/cli.md says.

Commands run in process (CliRunner) on a directory ``lorawatch init`` made; each output is
checked against the words only the other language's catalogue uses, and against the
catalogue's own sentence where the command says one.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from typer._click.core import Command
from typer.testing import CliRunner, Result

from lorawatch import inventory as inventory_mod
from lorawatch.alerts.config import RULE_IDS
from lorawatch.app.cli import main, say, usage
from lorawatch.core import catalogue
from lorawatch.core.readings import CANONICAL
from lorawatch.decoders import registry
from tests.language_support import leaked

CLI = Path(main.__file__).resolve().parent
UNKNOWN_EUI = "24e124136d123456"
FUTURE = "2030-01-01T00:00:00+01:00"
ENERGY = "24e124136b400001"  # the template's electricity meter


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-language")
    result = CliRunner().invoke(main.app, ["init", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def run(project: Path, *args: str, env: dict[str, str | None] | None = None) -> Result:
    with contextlib.chdir(project):
        result = CliRunner().invoke(main.app, list(args), env={"COLUMNS": "200", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def names(project: Path) -> list[str]:
    """The template inventory's names, the decoders' vendors and devices and the readings'
    names: data and identifiers, in no language of the interface."""
    inv = inventory_mod.load(project / "inventory.toml")
    return (
        [f"{c.id} {c.name}" for c in inv.communes.values()]
        + [f"{b.id} {b.name}" for b in inv.buildings.values()]
        + [f"{d.name} {d.dev_eui}" for d in inv.devices.values()]
        + [f"{c.name} {c.vendor} {c.device}" for c in registry.classes()]
        + list(CANONICAL)
    )


def said(result: Result, project: Path) -> str:
    """What the operator read in words: paths (a temporary folder), identifiers (a rule id,
    an option, a reading name) and the values an option takes are left out."""
    text = (result.stdout + result.stderr).replace(str(project), " ")
    text = re.sub(r"\S*[/._=-]\S*", " ", text)
    for lang in ("fr", "en"):  # the values an option takes: the words typed, in no language
        choose = catalogue.text(lang, "cli.bad_choice").split("{choices}")[0].split("}")[-1]
        text = re.sub(rf"(?m){re.escape(choose.strip())}.*$", " ", text)
    domains = {rule.split(".")[0] for rule in RULE_IDS}
    return re.sub(rf"\b({'|'.join(sorted(domains))})\b", " ", text)


# Commands, their exit code (unchanged by the language) and the catalogue ids they say.
COMMANDS: list[tuple[list[str], int, list[str]]] = [
    (["config", "check", "lorawatch.toml"], 0, ["cli.ok"]),
    (["meters", "reset", "-c", "lorawatch.toml", UNKNOWN_EUI], 2, ["cli.error"]),
    (["meters", "reset", "-c", "lorawatch.toml", ENERGY, "--at", FUTURE], 2, ["cli.error"]),
    (["meters", "list", "-c", "lorawatch.toml"], 0, ["cli.col.applied"]),
    (["alerts", "list", "-c", "lorawatch.toml"], 0, ["cli.col.severity"]),
    (["alerts", "list", "-c", "lorawatch.toml", "--kind", "nonsense"], 2, ["cli.error"]),
    (["alerts", "show", "-c", "lorawatch.toml", "999"], 1, ["cli.error"]),
    (["alerts", "ack", "-c", "lorawatch.toml", "999"], 1, ["cli.error"]),
    (["deadletters", "list", "-c", "lorawatch.toml"], 0, ["cli.col.reason"]),
    (["decoders", "list"], 0, ["cli.col.vendor", "cli.col.family"]),
    (["decoders", "test", "milesight-em300-di", "zz"], 2, ["cli.error"]),
    (["decoders", "test", "milesight-em300-di", "01", "--fport", "999"], 2, ["cli.error"]),
    (["decoders", "verify", "no-such-file.yaml"], 2, ["cli.error"]),
    (["calendars", "import", "x.csv"], 2, ["cli.calendars.no_output"]),
    (["init", "."], 2, ["cli.error"]),
    (["--log-level", "loud", "config", "init"], 2, ["cli.error"]),
]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_commands_speak_one_language(project: Path, lang: catalogue.Lang) -> None:
    data = names(project)
    for args, code, ids in COMMANDS:
        result = run(project, *args, env={say.ENV_LANG: lang})
        assert result.exit_code == code, (args, result.output)
        raw = result.stdout + result.stderr
        assert "Traceback" not in raw, raw
        for key in ids:
            assert catalogue.text(lang, key).format() in raw, (args, key, raw)
        assert leaked([said(result, project)], lang, data) == [], (args, lang, raw)


def test_the_language_is_the_flag_then_the_deployment_then_the_locale(project: Path) -> None:
    fr, en = catalogue.text("fr", "cli.col.vendor"), catalogue.text("en", "cli.col.vendor")
    assert fr != en
    no_flag: dict[str, str | None] = {say.ENV_LANG: None, "LC_ALL": None, "LC_MESSAGES": None}
    # Without a configuration, the locale decides (POSIX order); French by default.
    listing = ["decoders", "list"]
    assert fr in run(project, *listing, env=no_flag | {"LANG": "fr_FR.UTF-8"}).stdout
    assert en in run(project, *listing, env=no_flag | {"LANG": "en_GB.UTF-8"}).stdout
    assert fr in run(project, *listing, env=no_flag | {"LANG": "C.UTF-8"}).stdout
    assert en in run(project, *listing, env=no_flag | {"LANG": "fr_FR", "LC_ALL": "en_US"}).stdout
    # The deployment's site.language wins over the locale...
    text = (project / "lorawatch.toml").read_text(encoding="utf-8")
    assert text.count('\nlanguage = "fr"\n') == 1, "the template sets site.language only"
    (project / "english.toml").write_text(
        text.replace('\nlanguage = "fr"\n', '\nlanguage = "en"\n')
    )
    fr, en = catalogue.text("fr", "cli.col.severity"), catalogue.text("en", "cli.col.severity")
    deployed = ["alerts", "list", "-c", "english.toml"]
    assert en in run(project, *deployed, env=no_flag | {"LANG": "fr_FR.UTF-8"}).stdout
    assert fr in run(project, "alerts", "list", "-c", "lorawatch.toml", env=no_flag).stdout
    # ...and the operator's --lang (or LORAWATCH_LANG) over both.
    assert fr in run(project, "--lang", "fr", *deployed, env=no_flag).stdout
    assert fr in run(project, *deployed, env={say.ENV_LANG: "fr"}).stdout
    bad = run(project, "--lang", "de", "config", "init")
    assert bad.exit_code == 2 and "--lang" in bad.stderr


def test_json_output_keeps_its_keys_whatever_the_language(project: Path) -> None:
    outputs = []
    for lang in ("fr", "en"):
        result = run(project, "decoders", "list", "--json", env={say.ENV_LANG: lang})
        assert result.exit_code == 0
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1]
    assert {"name", "vendor", "device", "family", "readings"} == set(outputs[0][0])


def cli_ids() -> Iterator[tuple[str, str]]:
    """Every literal id the command line asks the catalogue for: (file:line, id)."""
    prefixes = {"t": "cli.", "error": "cli.", "_refuse": "cli.", "_failed": ""}
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            args = node.args[1:] if name == "error" else node.args
            if name == "_refuse" and path.name == "meters.py":
                args = node.args[1:]
            if name not in prefixes or not args:
                continue
            if name in ("t", "error") and not (
                isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "say"
            ):
                continue  # a module's own helper (lorawatch status: its status.* ids)
            first = args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            prefix = prefixes[name]
            if name == "_refuse" and path.name == "decoders.py":
                prefix = "cli.decoders."
            if name == "_failed":
                continue
            yield f"{path.name}:{node.lineno}", prefix + first.value


def test_every_id_the_command_line_uses_is_in_both_catalogues() -> None:
    found = list(cli_ids())
    assert len(found) > 100
    for where, key in found:
        for lang in ("fr", "en"):
            assert catalogue.has(lang, key), f"{where}: {key} missing in {lang}"


# -- typer's own words: help screens and usage errors ----------------------------------------

USAGE_ERRORS: list[list[str]] = [
    ["--nope"],
    ["nosuch"],
    ["demo", "--port", "abc"],
    ["demo", "--port", "99999"],
    ["demo", "--speed", "fast"],
    ["meters", "reset"],
    ["meters", "reset", UNKNOWN_EUI, "--start-index"],
    ["config", "check", "a.toml", "b.toml"],
    ["alerts", "list"],
    ["run", "--config-file", "x.toml"],
]
"""A bad flag, a missing argument or option, a value of the wrong type or out of range, an
unknown command, one argument too many: what typer finds before any command runs."""


def identifiers() -> list[str]:
    """The decoders' names and the commands' names: typed, in no language."""
    commands = " ".join(usage.help_keys(typer.main.get_command(main.app))).replace(".", " ")
    return [commands, *(f"{c.name} {c.vendor} {c.device}" for c in registry.classes())]


def typed(text: str) -> str:
    """What the operator read in words, without what is typed (options, values, paths, the
    value types of the help screens: ``<float range>``)."""
    text = re.sub(r"\S*[/._=-]\S*", " ", text)
    return re.sub(r"'[^']*'|«[^»]*»|\[[A-Z]+\]|\{[^}]*\}|<[a-z ]+>", " ", text)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_usage_errors_speak_one_language(
    lang: catalogue.Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    data = identifiers()
    usage_word = catalogue.text(lang, "cli.usage.usage")
    for args in USAGE_ERRORS:
        code = usage.run(main.app, main.err, ["--lang", lang, *args])
        captured = capsys.readouterr()
        text = captured.out + captured.err
        assert code == 2, (args, text)
        assert "Traceback" not in text
        assert text.startswith(f"{usage_word} lorawatch") or "--start-index" in args, text
        assert catalogue.text(lang, "cli.error") in text, (args, text)
        assert leaked([typed(text)], lang, data) == [], (args, text)


def test_a_usage_error_names_what_to_fix(capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        ("demo", "--port", "99999"): ["--port", "99999", "65535"],
        ("demo", "--port", "abc"): ["--port", "abc", "entier"],
        ("meters", "reset"): ["dev_eui", "manquant"],
        ("run", "--config-file", "x.toml"): ["--config-file", "--config"],
    }
    for args, parts in cases.items():
        assert usage.run(main.app, main.err, ["--lang", "fr", *args]) == 2
        text = capsys.readouterr().err
        assert all(part in text for part in parts), (args, parts, text)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_help_screens_speak_one_language(
    lang: catalogue.Lang, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    data = identifiers()
    tree = usage.help_keys(typer.main.get_command(main.app))
    screens = [
        [] if key == "help.lorawatch" else key.removeprefix("help.").split(".")
        for key, carrier in tree.items()
        if isinstance(carrier, Command)
    ]
    assert len(screens) > 40
    for path in screens:
        assert usage.run(main.app, main.err, ["--lang", lang, *path, "-h"]) == 0
        text = capsys.readouterr().out
        key = f"help.{'.'.join(path) or 'lorawatch'}"
        first_line = catalogue.text(lang, key).splitlines()[0]
        assert first_line.split()[0] in text, (path, text)
        assert catalogue.text(lang, "cli.usage.usage") in text
        assert catalogue.text(lang, "help.option.help") in text
        assert leaked([typed(text)], lang, data) == [], (path, text)
    assert len(tree) > 150


def test_every_command_and_option_has_its_help_in_both_catalogues() -> None:
    tree = usage.help_keys(typer.main.get_command(main.app))
    for lang in ("fr", "en"):
        for key in [*tree, "help.option.help"]:
            assert catalogue.has(lang, key), f"{key} missing in {lang}"
        stale = set(catalogue.keys("help.", lang)) - set(tree) - {"help.option.help"}
        assert stale == set(), f"{lang}: help for no command or option"
