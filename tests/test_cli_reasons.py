"""A file's problems said in one language: `config check` on a configuration and an inventory
that ``lorawatch init`` wrote, each broken in one value of each kind, in French and in English.

Each problem's line must name its key, and its reason hold no word of the other language nor
any word its own catalogue does not have (pydantic's English sentences are in no catalogue);
the values given, quoted, are the operator's own and left out.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lorawatch.app.cli import main, say
from lorawatch.core import catalogue, reasons
from lorawatch.decoders import registry
from tests.language_support import leaked, words


def set_key(text: str, section: str, key: str, value: str) -> str:
    """``key = value`` in ``[section]`` of a TOML text (replaced when the template has it)."""
    header = f"[{section}]\n"
    start = text.index(header) + len(header)
    following = re.search(r"^\[", text[start:], re.M)
    end = start + following.start() if following else len(text)
    body, count = re.subn(
        rf"(?m)^{re.escape(key)} = .*$", f"{key} = {value}", text[start:end], count=1
    )
    if not count:
        body = f"{key} = {value}\n{body}"
    return text[:start] + body + text[end:]


# (section, key, value, the problem's key in the output)
CONFIG = [
    ("log", "level", '"loud"', "log.level"),
    ("log", "bogus", "1", "log.bogus"),
    ("site", "language", '"de"', "site.language"),
    ("http", "listen", '"nonsense"', "http.listen"),
    ("mqtt", "url", '"http://x"', "mqtt.url"),
    ("mqtt", "session_expiry_s", "-5", "mqtt.session_expiry_s"),
    ("mqtt", "keepalive_s", '"often"', "mqtt.keepalive_s"),
    ("mqtt", "qos", "0", "mqtt.qos"),
    ("amqp", "url", '"amqp://someone:hunter2@broker/"', "amqp"),
    ("store", "outputs", "[]", "store.outputs"),
    ("http.screens", "price_eur_kwh", "99", "http.screens.price_eur_kwh"),
    ("alerts.quiet_hours", "start", '"25:00"', "alerts.quiet_hours"),
    ("alerts.rules.water", "night_flow_l_h", "0", "alerts.rules.water.night_flow_l_h"),
    ("state", "backend", '"postgresql"', "state"),
]
CONFIG_TABLES = """
[[alerts.overrides]]
building = "mairie"
water = { burst_l = -1 }

[[alerts.notifiers]]
name = "ops"
type = "webhook"
url = "ftp://example.org/hook"

[[http.users]]
name = "ana"
password_hash = "hunter2"
role = "viewer"
"""
CONFIG_TABLE_KEYS = [
    "alerts.overrides.0.water.burst_l",
    "alerts.notifiers.0",
    "http.users.0.password_hash",
]

# The inventory's values as pydantic reads them, then what only the whole inventory tells.
SHAPES = [
    ("latitude = 48.217", "latitude = 148.217", "communes.0.latitude"),
    ("surface_m2 = 420", "surface_m2 = -1", "buildings.0.surface_m2"),
    ('mon = ["08:30-12:00", "13:30-17:30"]', 'mon = ["25:00-26:00"]', "opening_hours.mon.0"),
    ('tue = ["08:30-12:00", "13:30-17:30"]', 'funday = ["08:00-09:00"]', "opening_hours.funday"),
    (
        'closures = ["2026-08-10..2026-08-14"]',
        'closures = ["2026-13-40"]',
        "buildings.0.closures.0",
    ),
    ('usage = "office"', 'usage = "office"\ncampaign_start = "soon"', "buildings.0.campaign_start"),
    ('dev_eui = "24e124136b400001"', 'dev_eui = "xyz"', "devices.0.dev_eui"),
    ('kind = "water"', 'kind = "wine"', "devices.1.kind"),
    ('name = "Mairie"', 'name = "Mairie"\nrooms = 3', "buildings.0.rooms"),
]
MEANINGS = [
    (
        'calendars = ["fr-public-holidays"]',
        'calendars = ["fr-nope"]',
        "buildings[mairie].calendars",
    ),
    ('decoder = "nas-cm30xx"', 'decoder = "nope"', "devices[1] (70b3d54750200001"),
    ("pulses_per_kwh = 1000", 'pulses_per_kwh = "many"', "devices[0] (24e124136b400001"),
    ("index_offset = 48213.0", "index_offst = 1", "devices[0] (24e124136b400001"),
    (
        'building = "mairie"\nsite = "Sanitaires"',
        'building = "nowhere"',
        "devices[2] (24e124710b420001",
    ),
    (
        'dev_eui = "70b3d54750300001"',
        'dev_eui = "24e124713b430001"',
        "devices[4] (24e124713b430001",
    ),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = CliRunner().invoke(main.app, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return tmp_path


def check(project: Path, lang: catalogue.Lang) -> tuple[int, list[str]]:
    with contextlib.chdir(project):
        result = CliRunner().invoke(
            main.app,
            ["config", "check", "lorawatch.toml"],
            env={say.ENV_LANG: lang, "COLUMNS": "400"},
        )
    assert "Traceback" not in result.output, result.output
    return result.exit_code, (result.stdout + result.stderr).splitlines()


def names() -> list[str]:
    """Data and identifiers in no language: decoders, calendars, keys the reasons name."""
    calendars = ["fr-public-holidays-alsace-moselle", "fr-school-zone-b", "fr-nope"]
    return [*registry.names(), *calendars, "amqp.username"]


def unquoted(reason: str) -> str:
    """A reason without the values it quotes: those are the operator's, in no language."""
    return re.sub(r"(?<!\w)('[^']*'|\"[^\"]*\")", " ", reason)


def assert_said(lines: list[str], keys: list[str], lang: catalogue.Lang) -> None:
    own = words(catalogue.messages(lang).values()) | words(names())
    problems = [line.strip() for line in lines if line.startswith("  ")]
    assert len(problems) >= len(keys), lines
    for key in keys:
        found = [p for p in problems if p.startswith(key) or f"{key}" in p.split(": ")[0]]
        assert found, (key, lines)
    for line in problems:
        reason = line.split(": ", 1)[1] if ": " in line else line
        assert leaked([unquoted(reason)], lang, names()) == [], (lang, line)
        assert words([unquoted(reason)]) <= own, (lang, line, words([unquoted(reason)]) - own)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_configuration_problems_in_one_language(project: Path, lang: catalogue.Lang) -> None:
    path = project / "lorawatch.toml"
    text = path.read_text(encoding="utf-8")
    for section, key, value, _ in CONFIG:
        text = set_key(text, section, key, value)
    path.write_text(text + CONFIG_TABLES, encoding="utf-8")
    code, lines = check(project, lang)
    assert code == 2, lines
    assert_said(lines, [k for *_, k in CONFIG] + CONFIG_TABLE_KEYS, lang)
    said = "\n".join(lines)
    assert "hunter2" not in said  # a password, in a URL or where a hash belongs: never shown
    if lang == "fr":  # the allowed values of a literal, with the language's "or"
        assert "'debug', 'info', 'warning' ou 'error'" in said
        assert "http:// ou https://" in said


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("breaks", [SHAPES, MEANINGS], ids=["shapes", "meanings"])
def test_inventory_problems_in_one_language(
    project: Path, lang: catalogue.Lang, breaks: list[tuple[str, str, str]]
) -> None:
    path = project / "inventory.toml"
    text = path.read_text(encoding="utf-8")
    for old, new, _ in breaks:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    code, lines = check(project, lang)
    assert code == 2, lines
    assert_said(lines, [k for *_, k in breaks], lang)


def test_a_reason_is_english_in_the_log_and_said_in_each_language() -> None:
    reason = reasons.Reason("clock_range", {"text": "'25:00-26:00'"})
    assert str(reason) == "'25:00-26:00' is not a time range HH:MM-HH:MM"
    assert reason.text("fr") == "'25:00-26:00' n'est pas une plage horaire HH:MM-HH:MM"
    assert str(reasons.choices("'a', 'b' or 'c'")) == "'a', 'b' or 'c'"
    assert reasons.say(reasons.choices("'a', 'b' or 'c'"), "fr") == "'a', 'b' ou 'c'"
    assert reasons.choices("'a or b'") == reasons.OneOf(["'a or b'"])
    assert reasons.say(reasons.choices("1 or 2"), "fr") == "1 ou 2"
