"""One language per page: every text comes from the catalogue, French and English complete.

The two ``.po`` files must have the same ids, none empty, with the same placeholders; and a
page asked for in one language must not show a word that only the other language's
catalogue uses (so an English alert title on a French page, or a French label left in a
template of an English page, fails here).
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lorawatch.alerts import texts
from lorawatch.app.service import Service
from lorawatch.core import catalogue
from tests.language_support import only_in, words
from tests.web_support import OPERATOR, make_service, serve

PAGES = ("/", "/buildings/ecole", "/buildings/salle-polyvalente", "/screens/ecole", "/login")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogues_have_the_same_ids_and_placeholders() -> None:
    fr, en = catalogue.messages("fr"), catalogue.messages("en")
    assert len(fr) > 100
    assert set(fr) == set(en), set(fr) ^ set(en)
    for key in fr:
        assert fr[key].strip() and en[key].strip(), key
        assert placeholders(fr[key]) == placeholders(en[key]), key
    # Every usage of the inventory, sensor kind, severity and alert state has its words.
    from typing import get_args

    from lorawatch.alerts.model import AlertState, Severity
    from lorawatch.inventory.model import DeviceKind

    for kind in get_args(DeviceKind):
        assert catalogue.has("fr", f"kind.{kind}"), kind
    for severity in Severity:
        assert catalogue.has("fr", f"severity.{severity}"), severity
    for state in AlertState:
        assert catalogue.has("fr", f"state.{state}"), state


def visible_text(page: str) -> str:
    page = re.sub(r"(?s)<(style|script)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return html.unescape(page)


@pytest.fixture(scope="module")
def village(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Service]]:
    service = make_service(Path(tmp_path_factory.mktemp("catalogue")))
    with serve(service) as client:
        answer = client.post(
            "/login",
            data={"user": OPERATOR[0], "password": OPERATOR[1], "next": "/"},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        yield client, service
    service.stop()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_page_shows_no_word_of_the_other_language(
    village: tuple[httpx.Client, Service], lang: catalogue.Lang
) -> None:
    client, service = village
    other = "en" if lang == "fr" else "fr"
    foreign = only_in(other)
    assert len(foreign) > 100
    # Names are data, not words of the interface: buildings, communes, devices.
    names = words(
        [b.name for b in service.inventory.buildings.values()]
        + [c.name for c in service.inventory.communes.values()]
        + [f"{d.name} {d.dev_eui}" for d in service.inventory.devices.values()]
    )
    for path in PAGES:
        answer = client.get(path, params={"lang": lang})
        assert answer.status_code == 200, path
        assert f'<html lang="{lang}"' in answer.text
        seen = words([visible_text(answer.text)]) - names
        leaked = sorted(seen & foreign)
        assert leaked == [], f"{path}?lang={lang} shows {other} words: {leaked}"


def test_lang_changes_the_words_not_only_the_numbers(
    village: tuple[httpx.Client, Service],
) -> None:
    client, _ = village
    fr = visible_text(client.get("/", params={"lang": "fr"}).text)
    en = visible_text(client.get("/", params={"lang": "en"}).text)
    assert catalogue.text("fr", "overview.buildings") in fr
    assert catalogue.text("en", "overview.buildings") in en
    assert catalogue.text("fr", "overview.buildings") not in en


def test_alert_texts_are_stored_once_and_rendered_in_any_language(
    village: tuple[httpx.Client, Service],
) -> None:
    client, service = village
    # The village's alerts were stored in the deployment's language, French by default...
    title = service.sqlite.fetch("SELECT title FROM alerts WHERE rule = 'water.leak'")[0][0]
    assert title.startswith("Fuite détectée")
    # ...and an English page renders them again from their text id and values.
    assert "Leak detected" in visible_text(client.get("/", params={"lang": "en"}).text)
    assert "Fuite détectée" in visible_text(client.get("/", params={"lang": "fr"}).text)


def test_alert_figures_follow_the_language() -> None:
    values = {"where": "École", "hours": 3, "since": "2026-01-15 02:00", "pct": 61.7}
    values |= {"last_kwh": 12.25, "baseline_kwh": 7.5}
    fr_title, fr = texts.render("energy.baseline", values, "fr")
    en_title, en = texts.render("energy.baseline", values, "en")
    assert fr_title == "Surconsommation : École" and en_title == "Overconsumption: École"
    assert "12,2 kWh" in fr and "7,5 kWh" in fr and "+62 %" in fr
    assert "12.2 kWh" in en and "7.5 kWh" in en
    assert texts.duration(4.9 * 86400, "fr") == "4,9 jours"
    assert texts.duration(4.9 * 86400, "en") == "4.9 days"
    # An alert stored before the catalogue keeps its sentence.
    assert texts.again("Old title", "Old message", {}, "fr") == ("Old title", "Old message")
