"""The pages as people see them, in headless Chromium (Debian's, driven by Playwright).

A technical agent logs in, finds every building of Saint-Sulpice with the figures the API
gives, opens a building, and acknowledges the leak the simulator raised; the hall screen of
the school shows today's kWh without any login. Every page is saved as a screenshot under
``test-artefacts/`` for a person to look at, and no page loads anything from elsewhere nor
logs an error in the browser's console.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lorawatch.app.service import Service
from lorawatch.core import i18n
from lorawatch.web.app import create_app
from lorawatch.web.server import WebServer
from tests.web_support import ARTEFACTS, OPERATOR, VIEWER_TOKEN, make_service

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service]]:
    service = make_service(tmp_path_factory.mktemp("browser"))
    server = WebServer(create_app(service), "127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", service
    finally:
        server.stop()
        service.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's chromium is not installed: scripts/test installs it (apt-get install chromium)"
        )
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page that records console errors and every URL it requests."""

    def __init__(self, browser: Any, base: str, width: int, height: int) -> None:
        self.base = base
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def check_clean(self) -> None:
        assert self.errors == [], self.errors
        foreign = [u for u in self.requests if not u.startswith(self.base)]
        assert foreign == [], f"requests outside the service: {foreign}"

    def shot(self, name: str, full_page: bool = True) -> Path:
        ARTEFACTS.mkdir(exist_ok=True)
        path = ARTEFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


def api(base: str, path: str) -> Any:
    answer = httpx.get(base + path, headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}, timeout=30)
    answer.raise_for_status()
    return answer.json()


def log_in(w: Watched) -> None:
    w.page.goto(w.base + "/")
    assert "/login" in w.page.url
    w.page.fill("input[name=user]", OPERATOR[0])
    w.page.fill("input[name=password]", OPERATOR[1])
    w.page.click("button[type=submit]")
    w.page.wait_for_url(w.base + "/")


def test_overview_lists_every_building_with_the_apis_figures(
    site: tuple[str, Service], browser: Any
) -> None:
    base, service = site
    w = Watched(browser, base, 1400, 1000)
    log_in(w)
    rows = w.page.locator("#buildings tbody tr")
    assert rows.count() == len(service.inventory.buildings) == 7
    summaries = {s["building"]: s for s in api(base, "/api/summary")}
    for i in range(rows.count()):
        row = rows.nth(i)
        building = row.get_attribute("data-building")
        s = summaries[building]
        assert row.locator("a").first.inner_text() == s["name"]
        for field, value, digits in (
            ("energy-today", s["energy"]["today"]["value"], 1),
            ("energy-week", s["energy"]["week"]["value"], 1),
            ("energy-month", s["energy"]["month"]["value"], 1),
            ("water-today", s["water"]["today"]["value"], 2),
        ):
            shown = row.locator(f"[data-field={field}]").inner_text()
            assert shown == i18n.number(value, "fr", digits), (building, field)
    assert w.page.locator("#alerts").count() == 1
    w.shot("overview")
    w.page.click("text=École élémentaire")
    w.page.wait_for_url(base + "/buildings/ecole")
    assert w.page.locator("svg.chart").count() == 3
    today = summaries["ecole"]["energy"]["today"]["value"]
    assert w.page.locator("#today-kwh").inner_text().startswith(i18n.number(today, "fr", 1))
    w.shot("building-ecole")
    w.check_clean()


def test_the_hall_screen_shows_todays_kwh_without_login(
    site: tuple[str, Service], browser: Any
) -> None:
    base, _ = site
    w = Watched(browser, base, 1920, 1080)
    w.page.goto(base + "/screens/ecole")
    assert "/login" not in w.page.url
    today = api(base, "/api/buildings/ecole/summary")["energy"]["today"]
    assert w.page.locator("#today-value").inner_text() == i18n.number(today["value"], "fr")
    assert "kWh" in w.page.locator("#today").inner_text()
    assert w.page.locator("html").get_attribute("lang") == "fr"
    refresh = w.page.locator("meta[http-equiv=refresh]").get_attribute("content")
    assert refresh == "60"
    text = w.page.locator("body").inner_text()
    for words in ("Aujourd'hui", "Cette semaine", "Le bon geste"):
        assert words in text
    # Eleven days of history: no weather-adjusted figure yet, and the screen says so.
    weather = w.page.locator("#campaign #weather").inner_text()
    assert weather == "À météo égale : pas encore assez d'historique"
    # Building totals only: no device, no person, no alert detail on a public screen.
    assert "ecole-fuite-sanitaires" not in text and "24e1" not in text
    # Readable from three metres: the figure is big on a 1080p screen.
    size = w.page.locator("#today-value").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 120
    w.shot("screen-ecole", full_page=False)
    w.page.goto(base + "/screens/salle-polyvalente?lang=en")
    assert "Today" in w.page.locator("body").inner_text()
    w.shot("screen-salle-polyvalente-en", full_page=False)
    w.check_clean()


def test_an_alert_raised_by_the_simulator_is_acknowledged_from_the_overview(
    site: tuple[str, Service], browser: Any
) -> None:
    base, _ = site
    alerts = api(base, "/api/alerts?building=ecole")["items"]
    leak = next(a for a in alerts if a["rule"] == "water.leak")
    assert leak["state"] == "open"
    w = Watched(browser, base, 1400, 1000)
    log_in(w)
    row = w.page.locator(f"#alert-{leak['id']}")
    assert re.search("Fuite détectée", row.inner_text())
    assert "ouverte" in row.locator(".state").inner_text()
    w.shot("alerts-before-ack")
    row.locator("button.ack").click()
    w.page.wait_for_url(base + "/")
    row = w.page.locator(f"#alert-{leak['id']}")
    assert f"acquittée par {OPERATOR[0]}" in row.locator(".state").inner_text()
    assert row.locator("button.ack").count() == 0
    assert api(base, f"/api/alerts/{leak['id']}")["state"] == "acknowledged"
    w.shot("alerts-after-ack")
    w.check_clean()


SCREEN_SIZES = {
    "landscape": (1920, 1080),
    "portrait": (1080, 1920),
    "phone": (390, 844),
}
SCREEN_PARTS = (
    "#name",
    "#today",
    "#today-value",
    "#today-comparison",
    "#today-reference",
    "#today-money",
    "#last-week-day",
    "#curve",
    "#legend",
    "#water",
    "#week",
    "#campaign",
    "#campaign-comparison",
    "#weather",
    "#tip",
)
MEASURE = """
(parts) => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {left: r.left, top: r.top + scrollY, right: r.right, bottom: r.bottom + scrollY,
            width: r.width, height: r.height}; };
  const out = {page: {width: document.documentElement.scrollWidth,
                      height: document.documentElement.scrollHeight,
                      innerWidth, innerHeight}, parts: {}, clipped: [], ticks: []};
  for (const sel of parts) {
    const e = document.querySelector(sel);
    out.parts[sel] = e ? box(e) : null;
  }
  // Text cut by a container that hides its overflow: a .big section, the tip, any <p>.
  for (const e of document.querySelectorAll('.big, .big > *, .tip, .tip > *, header > *')) {
    if (e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1) {
      out.clipped.push((e.id || e.className || e.tagName) + ' ' + e.scrollWidth + 'x'
        + e.scrollHeight + ' in ' + e.clientWidth + 'x' + e.clientHeight);
    }
  }
  for (const t of document.querySelectorAll('#curve svg text.tick')) {
    const r = t.getBoundingClientRect();
    if (r.width > 0) out.ticks.push(r.height);
  }
  return out;
}
"""


@pytest.mark.parametrize(
    ("size", "lang"),
    [
        ("landscape", "fr"),
        ("portrait", "fr"),
        ("phone", "fr"),
        ("landscape", "en"),
        ("phone", "en"),
    ],
)
def test_the_hall_screen_fits_landscape_portrait_and_phone(
    site: tuple[str, Service], browser: Any, size: str, lang: str, tmp_path: Path
) -> None:
    """Every part of the screen inside the page, nothing clipped, no sideways scroll; on TVs
    no scroll at all; chart labels at least 14 px; a screenshot per size in tmp_path."""
    base, _ = site
    width, height = SCREEN_SIZES[size]
    w = Watched(browser, base, width, height)
    w.page.goto(f"{base}/screens/ecole?lang={lang}")
    m = w.page.evaluate(MEASURE, list(SCREEN_PARTS))
    w.page.screenshot(path=str(tmp_path / f"screen-ecole-{size}-{lang}.png"), full_page=True)
    tops = {k: v and (round(v["top"]), round(v["bottom"])) for k, v in m["parts"].items()}
    print(size, lang, m["page"], tops, "label heights", sorted({round(t) for t in m["ticks"]}))
    # The legend says what the chart's colours and ticks mean, in the page's language.
    legend = w.page.locator("#legend").inner_text()
    assert ("jour type" if lang == "fr" else "typical day") in legend
    page = m["page"]
    assert page["width"] <= width, f"sideways scroll: {page}"
    if size != "phone":
        assert page["height"] <= height, f"a TV does not scroll: {page}"
    for selector, box in m["parts"].items():
        assert box is not None, f"{selector} missing"
        assert box["width"] > 0 and box["height"] > 0, selector
        assert box["left"] >= 0 and box["right"] <= width, (selector, box)
        assert box["top"] >= 0 and box["bottom"] <= page["height"], (selector, box)
    assert m["clipped"] == [], m["clipped"]
    assert m["ticks"] and min(m["ticks"]) >= 14, f"chart labels {min(m['ticks']):.1f} px high"
    w.check_clean()
