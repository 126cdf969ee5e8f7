"""The HTTP API and the access rules, in process (ASGI), on a simulated Saint-Sulpice.

What a technical service or an integrator relies on: figures that are the store's, paged
lists, validation errors that name the field, and writes that nobody anonymous can make.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from lorawatch.app.service import Service
from lorawatch.core import catalogue, timeutil
from lorawatch.core.errors import ConfigError
from lorawatch.web.security import FailureLimiter, hash_password, new_token, verify_password
from tests.language_support import leaked
from tests.web_support import (
    NOW,
    OPERATOR,
    OPERATOR_TOKEN,
    VIEWER,
    VIEWER_TOKEN,
    make_service,
    serve,
    settings,
)

TZ = "Europe/Paris"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = make_service(tmp_path)
    yield svc
    svc.stop()


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with serve(service) as c:
        yield c


def alert_state(service: Service, alert_id: int) -> str:
    return str(service.sqlite.fetch("SELECT state FROM alerts WHERE id = ?", (alert_id,))[0][0])


def open_alert(service: Service) -> int:
    return int(
        service.sqlite.fetch(
            "SELECT MIN(id) FROM alerts WHERE state = 'open' AND rule = 'water.leak'"
        )[0][0]
    )


def test_health_and_metrics_answer_without_login(client: httpx.Client, service: Service) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["source_connected"] is True
    assert body["stores"] == {"sqlite": "ok"}
    # No path, no error text for anonymous callers: the database's path is in the full report.
    db_path = str(service.sqlite.path)
    assert db_path not in health.text and "last_error" not in health.text
    full = client.get("/healthz", headers=bearer(VIEWER_TOKEN))
    assert full.status_code == 200 and set(full.json()) == set(service.health())
    assert full.json()["stores"]["sqlite"]["path"] == db_path
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "lorawatch_messages_received_total" in metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")


def test_every_answer_carries_the_security_headers(client: httpx.Client) -> None:
    for path in ("/healthz", "/api/buildings", "/screens/ecole", "/login"):
        headers = client.get(path).headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "server" not in headers


def test_cors_is_closed_unless_an_origin_is_configured(
    client: httpx.Client, tmp_path: Path
) -> None:
    asked = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    answer = client.options("/api/buildings", headers=asked)
    assert "access-control-allow-origin" not in answer.headers
    answer = client.get(
        "/api/buildings", headers={"Origin": "https://evil.example"} | bearer(VIEWER_TOKEN)
    )
    assert "access-control-allow-origin" not in answer.headers
    (tmp_path / "cors").mkdir()
    svc = make_service(tmp_path / "cors", cors_origins=["https://grafana.example"])
    try:
        with serve(svc) as c:
            ok = c.get(
                "/api/buildings",
                headers={"Origin": "https://grafana.example"} | bearer(VIEWER_TOKEN),
            )
            assert ok.headers["access-control-allow-origin"] == "https://grafana.example"
            other = c.get(
                "/api/buildings", headers={"Origin": "https://evil.example"} | bearer(VIEWER_TOKEN)
            )
            assert "access-control-allow-origin" not in other.headers
    finally:
        svc.stop()
    with pytest.raises(ConfigError, match="cors_origins"):
        settings(tmp_path / "x.sqlite", cors_origins=["*"])


def test_reading_needs_a_principal_and_each_way_in_works(client: httpx.Client) -> None:
    assert client.get("/api/buildings").status_code == 401
    assert "Bearer" in client.get("/api/buildings").headers["www-authenticate"]
    assert client.get("/api/buildings", headers=bearer("not-a-token")).status_code == 401
    assert client.get("/api/buildings", headers=basic(VIEWER[0], "wrong")).status_code == 401
    assert client.get("/api/buildings", headers=bearer(VIEWER_TOKEN)).status_code == 200
    assert client.get("/api/buildings", headers=basic(*VIEWER)).status_code == 200


def test_inventory_lists_are_paged(client: httpx.Client) -> None:
    auth = bearer(VIEWER_TOKEN)
    everything = client.get("/api/buildings", headers=auth).json()
    assert everything["total"] == 7
    assert {b["id"] for b in everything["items"]} >= {"mairie", "ecole", "salle-polyvalente"}
    page = client.get("/api/buildings?limit=3&offset=3", headers=auth).json()
    assert [b["id"] for b in page["items"]] == [b["id"] for b in everything["items"][3:6]]
    assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == 3
    communes = client.get("/api/communes", headers=auth).json()["items"]
    assert communes[0]["id"] == "saint-sulpice-la-foret" and communes[0]["buildings"] == 7
    devices = client.get("/api/devices?building=ecole", headers=auth).json()
    assert devices["total"] == 3 and all(d["last_seen"] for d in devices["items"])
    one = client.get(f"/api/devices/{devices['items'][0]['dev_eui']}", headers=auth).json()
    assert one["readings"], "a device's last readings"


def test_validation_errors_name_the_field_and_the_reason(client: httpx.Client) -> None:
    auth = bearer(VIEWER_TOKEN) | {"Accept-Language": "en-GB,en;q=0.8"}

    def problem(url: str) -> tuple[list[Any], str]:
        answer = client.get(url, headers=auth)
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"][0]
        assert "input" not in detail, "the input is not echoed back"
        return detail["loc"], detail["msg"]

    base = "/api/buildings/ecole/consumption"
    loc, msg = problem(f"{base}?start=2026-01-10T00:00:00Z&end=2026-01-09T00:00:00Z")
    assert loc == ["query", "end"] and "after start" in msg
    loc, msg = problem(f"{base}?interval=fortnight")
    assert loc == ["query", "interval"] and "hour" in msg
    loc, msg = problem(f"{base}?interval=hour&start=2025-01-01T00:00:00Z&end=2026-01-01T00:00:00Z")
    assert loc == ["query", "start"] and "83 days" in msg
    loc, msg = problem(f"{base}?interval=month&start=2000-01-01T00:00:00Z&end=2099-01-01T00:00:00Z")
    assert loc == ["query", "start"] and "400 days" in msg
    loc, msg = problem(f"{base}?start=1900-01-01T00:00:00Z")
    assert loc == ["query", "start"] and "range" in msg
    loc, msg = problem("/api/buildings?limit=0")
    assert loc == ["query", "limit"] and "greater than or equal to 1" in msg
    loc, _ = problem("/api/devices/not-an-eui")
    assert loc == ["path", "dev_eui"]
    assert client.get("/api/buildings/nowhere/consumption", headers=auth).status_code == 404


def test_figures_are_the_stores_own(client: httpx.Client, service: Service) -> None:
    auth = bearer(VIEWER_TOKEN)
    midnight = timeutil.period_start(NOW, "day", TZ)
    week = timeutil.period_start(NOW, "week", TZ)
    store_today = {
        b.group: b.value
        for b in service.sqlite.consumption("energy_delta_kwh", midnight, NOW, "day", TZ)
    }
    summaries = {s["building"]: s for s in client.get("/api/summary", headers=auth).json()}
    assert set(summaries) == set(service.inventory.buildings)
    for building, value in store_today.items():
        if building:
            assert summaries[building]["energy"]["today"]["value"] == pytest.approx(value, abs=1e-3)
    series = client.get(
        "/api/buildings/ecole/consumption",
        params={
            "interval": "day",
            "start": (week - timedelta(days=7)).isoformat(),
            "end": NOW.isoformat(),
        },
        headers=auth,
    ).json()
    by_day = {
        b.start: b.value
        for b in service.sqlite.consumption(
            "energy_delta_kwh", week - timedelta(days=7), NOW, "day", TZ
        )
        if b.group == "ecole"
    }
    assert len(series["points"]) == len(by_day) == 11
    values = [p["value"] for p in series["points"]]
    assert values == pytest.approx([round(v, 3) for v in by_day.values()], abs=1e-3)
    # A typical Thursday exists (the week before is in the store), and last year does not.
    today = series["points"][-1]
    assert today["baseline"] is not None and today["last_year"] is None
    assert today["per_m2"] == pytest.approx(today["value"] / 1150, abs=1e-4)
    hourly = client.get("/api/buildings/ecole/consumption?interval=hour", headers=auth).json()
    assert len(hourly["points"]) == 49  # two days back from 15:20, hour by hour
    assert hourly["unit"] == "kWh" and hourly["timezone"] == TZ


def test_dead_letters_are_listed_newest_first(client: httpx.Client, service: Service) -> None:
    from lorawatch.gateway_bridge.source import Message

    topic = "application/x/device/0011223344556677/event/up"
    service.bridge.process(
        [Message(topic, b"{broken", NOW, 1, 1), Message(topic, b"\xff", NOW, 2, 1)]
    )
    page = client.get("/api/dead-letters?limit=1", headers=bearer(VIEWER_TOKEN)).json()
    assert page["total"] >= 2 and len(page["items"]) == 1
    newest = page["items"][0]
    assert base64.b64decode(newest["payload_base64"]) == b"\xff"
    assert newest["reason"] and newest["size"] == 1


def test_anonymous_writes_get_401_and_change_nothing(
    client: httpx.Client, service: Service
) -> None:
    alert = open_alert(service)
    before = service.sqlite.fetch("SELECT * FROM alerts ORDER BY id")
    for path in (f"/api/alerts/{alert}/ack", f"/api/alerts/{alert}/resolve"):
        assert client.post(path).status_code == 401
        assert client.post(path, headers=bearer("forged")).status_code == 401
        assert client.post(path, headers=basic(OPERATOR[0], "guess")).status_code == 401
    for path in (f"/alerts/{alert}/ack", f"/alerts/{alert}/resolve"):
        assert client.post(path, data={"csrf": "x"}, follow_redirects=False).status_code == 401
    assert service.sqlite.fetch("SELECT * FROM alerts ORDER BY id") == before


def test_only_an_operator_acts_on_alerts(client: httpx.Client, service: Service) -> None:
    alert = open_alert(service)
    assert client.post(f"/api/alerts/{alert}/ack", headers=bearer(VIEWER_TOKEN)).status_code == 403
    assert alert_state(service, alert) == "open"
    listed = client.get("/api/alerts?building=ecole", headers=bearer(VIEWER_TOKEN)).json()
    assert alert in [a["id"] for a in listed["items"]]
    acked = client.post(f"/api/alerts/{alert}/ack", headers=bearer(OPERATOR_TOKEN))
    assert acked.status_code == 200 and acked.json()["acked_by"] == "ops-script"
    assert alert_state(service, alert) == "acknowledged"
    resolved = client.post(
        f"/api/alerts/{alert}/resolve", headers=basic(*OPERATOR), json={"resolution": "pipe fixed"}
    )
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    again = client.post(f"/api/alerts/{alert}/resolve", headers=bearer(OPERATOR_TOKEN))
    assert again.status_code == 409
    assert client.post("/api/alerts/999999/ack", headers=bearer(OPERATOR_TOKEN)).status_code == 404


def login(client: httpx.Client, user: str, password: str) -> Any:
    return client.post(
        "/login", data={"user": user, "password": password, "next": "/"}, follow_redirects=False
    )


def test_pages_need_a_session_and_forms_need_its_csrf_token(
    client: httpx.Client, service: Service
) -> None:
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/"
    assert login(client, OPERATOR[0], "wrong").status_code == 401
    answer = login(client, *OPERATOR)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = client.get("/")
    assert page.status_code == 200 and "École élémentaire" in page.text
    alert = open_alert(service)
    # The session cookie alone is not enough to change anything: a CSRF token must come too.
    assert client.post(f"/alerts/{alert}/ack", data={"csrf": "guess"}).status_code == 403
    assert client.post(f"/api/alerts/{alert}/ack").status_code == 403
    assert alert_state(service, alert) == "open"
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    foreign = client.post(
        f"/alerts/{alert}/ack", data={"csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    done = client.post(
        f"/alerts/{alert}/ack", data={"csrf": token, "back": "/"}, follow_redirects=False
    )
    assert done.status_code == 303 and alert_state(service, alert) == "acknowledged"
    # A viewer sees the pages but gets no buttons, and the server refuses the action anyway.
    client.cookies.clear()
    login(client, *VIEWER)
    page = client.get("/")
    assert "Acquitter" not in page.text
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post(f"/alerts/{alert}/resolve", data={"csrf": token}).status_code == 403


def test_no_secret_reaches_a_page_or_the_log(
    client: httpx.Client, service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    login(client, *OPERATOR)
    pages = [client.get(p).text for p in ("/", "/buildings/ecole", "/screens/ecole", "/login")]
    secrets = [OPERATOR[1], VIEWER[1], OPERATOR_TOKEN, VIEWER_TOKEN]
    secrets += [u.password_hash.get_secret_value() for u in service.settings.http.users]
    secrets += [t.sha256.get_secret_value() for t in service.settings.http.tokens]
    client.get("/api/buildings", headers=bearer("leaked-token-attempt"))
    login(client, OPERATOR[0], "a-wrong-password")
    logged = capsys.readouterr()
    for secret in [*secrets, "leaked-token-attempt", "a-wrong-password"]:
        assert all(secret not in page for page in pages)
        assert secret not in logged.err + logged.out


def test_failed_logins_are_slowed_down(client: httpx.Client) -> None:
    for _ in range(10):
        assert login(client, OPERATOR[0], "nope").status_code == 401
    assert login(client, *OPERATOR).status_code == 429
    assert client.get("/api/buildings", headers=basic(OPERATOR[0], "x")).status_code == 429
    # Other identities on the same address are not locked out by the operator's guesser.
    assert client.get("/api/buildings", headers=basic(*VIEWER)).status_code == 200
    assert client.get("/api/buildings", headers=bearer(VIEWER_TOKEN)).status_code == 200


def test_a_success_of_another_identity_does_not_reset_the_count(client: httpx.Client) -> None:
    """The attack of issue 17: wrong operator passwords interleaved with a valid viewer token
    used to go on for ever (36 went through), as any success forgot the address's failures."""
    answers = []
    for _ in range(36):
        answers.append(
            client.get("/api/buildings", headers=basic(OPERATOR[0], "guess")).status_code
        )
        assert client.get("/api/buildings", headers=bearer(VIEWER_TOKEN)).status_code == 200
    assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
    # Over the form too, and the operator's right password is refused while blocked.
    assert login(client, *OPERATOR).status_code == 429


def test_failures_are_counted_per_user_across_addresses() -> None:
    limiter = FailureLimiter(limit=10, per_identity=30, per_address=30)
    for i in range(30):  # a guesser spread over 30 addresses, one try each
        assert limiter.blocked_for(f"10.0.0.{i}", "agent") == 0
        limiter.failed(f"10.0.0.{i}", "agent")
        limiter.succeeded(f"10.0.1.{i}", "lecteur")  # others' successes change nothing
    assert limiter.blocked_for("10.9.9.9", "agent") > 0
    assert limiter.blocked_for("10.9.9.9", "lecteur") == 0
    # One address sweeping user names is stopped too.
    for i in range(30):
        limiter.failed("10.2.0.1", f"user{i}")
    assert limiter.blocked_for("10.2.0.1", "someone-else") > 0


def test_a_cross_site_form_cannot_use_basic_credentials(
    client: httpx.Client, service: Service
) -> None:
    """The other attack of issue 17: a page of another site posts a form to the API; the
    browser adds the Basic credentials it keeps, and the alert used to be acknowledged."""
    alert = open_alert(service)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for browser_says in (
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},  # an older browser: no fetch metadata
        {"Origin": "null"},  # a sandboxed frame or a data: URL
        {"Sec-Fetch-Site": "same-site"},  # a sibling sub-domain
    ):
        answer = client.post(
            f"/api/alerts/{alert}/ack", headers=basic(*OPERATOR) | form | browser_says
        )
        assert answer.status_code == 403, browser_says
        assert answer.json()["code"] == "auth.cross_site"
    assert alert_state(service, alert) == "open"
    # Browsers are never asked for Basic credentials, so they do not keep any.
    assert "Basic" not in client.get("/api/alerts").headers["www-authenticate"]
    # curl sends no Origin: Basic still works for scripts, as does a same-origin request.
    host = client.base_url.netloc.decode()
    same = client.post(
        f"/api/alerts/{alert}/ack",
        headers=basic(*OPERATOR) | {"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 200 and alert_state(service, alert) == "acknowledged"
    # A bearer token is never sent by a browser on its own: no origin check is needed.
    resolved = client.post(
        f"/api/alerts/{alert}/resolve",
        headers=bearer(OPERATOR_TOKEN) | {"Origin": "https://grafana.example"},
    )
    assert resolved.status_code == 200


def test_screens_can_require_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token, digest = new_token()
    svc = make_service(
        tmp_path, screens={"access": "token", "tokens": [{"building": "ecole", "sha256": digest}]}
    )
    try:
        with serve(svc) as c:
            assert c.get("/screens/ecole").status_code == 404
            assert c.get("/screens/ecole?token=wrong").status_code == 404
            assert c.get(f"/screens/mairie?token={token}").status_code == 404
            shown = c.get(f"/screens/ecole?token={token}")
            assert shown.status_code == 200 and "École élémentaire" in shown.text
            assert token not in shown.text, "the refresh keeps the URL, the page never shows it"
    finally:
        svc.stop()
    assert token not in capsys.readouterr().err


def test_only_hashes_are_accepted_in_the_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="password_hash"):
        settings(tmp_path / "x.sqlite", users=[{"name": "a", "password_hash": "hunter2"}])
    with pytest.raises(ConfigError, match="sha256"):
        settings(tmp_path / "x.sqlite", tokens=[{"name": "a", "sha256": "plain-token"}])
    encoded = hash_password("a good long passphrase", log_n=10)
    assert verify_password("a good long passphrase", encoded)
    assert not verify_password("a good long passphrase!", encoded)
    assert not verify_password("x", "$scrypt$ln=99,r=8,p=1$AAAA$AAAA")


def test_screens_may_be_framed_by_signage_only_and_redirects_stay_home(tmp_path: Path) -> None:
    svc = make_service(tmp_path, screens={"frame_ancestors": ["https://signage.example"]})
    try:
        with serve(svc) as c:
            screen = c.get("/screens/ecole").headers
            assert "frame-ancestors https://signage.example" in screen["content-security-policy"]
            assert "x-frame-options" not in screen
            assert c.get("/login").headers["x-frame-options"] == "DENY"
            for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
                answer = c.post(
                    "/login",
                    data={"user": OPERATOR[0], "password": OPERATOR[1], "next": target},
                )
                assert answer.status_code == 303 and answer.headers["location"] == "/"
    finally:
        svc.stop()


def test_the_api_reference_is_served_without_any_cdn(client: httpx.Client) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    spec = client.get("/api/openapi.json").json()
    for path, item in spec["paths"].items():
        for method in item:
            assert f'<code class="method {method}">{method.upper()}</code> <code>{path}</code>' in (
                html.replace("&#34;", '"')
            ), (method, path)
    assert "<script" not in html and "cdn" not in html.lower()
    assert 'href="https://' not in html and 'src="http' not in html
    # The constraints a caller needs are there: a bounded limit, an enumerated interval.
    assert "integer, ≥ 1" in html and "&#34;hour&#34; | &#34;day&#34;" in html
    assert 'id="schema-AlertOut"' in html


def test_errors_and_alerts_speak_the_language_of_each_request(
    client: httpx.Client, service: Service
) -> None:
    """``?lang=`` first, then ``Accept-Language``, then ``site.language``; the ``code`` of an
    error never changes with the language, and no word of the other language slips in."""
    auth = bearer(VIEWER_TOKEN)

    def error(url: str, **headers: str) -> tuple[str, str, str]:
        answer = client.get(url, headers=auth | headers)
        assert answer.status_code == 404, answer.text
        body = answer.json()
        return body["code"], body["detail"], answer.headers["content-language"]

    url = "/api/buildings/nowhere/summary"
    fr = catalogue.text("fr", "api.building.unknown", building="nowhere")
    en = catalogue.text("en", "api.building.unknown", building="nowhere")
    assert fr != en
    assert error(url) == ("building.unknown", fr, "fr")  # the deployment's language
    assert error(url + "?lang=en") == ("building.unknown", en, "en")
    assert error(url, **{"Accept-Language": "de-DE, en-GB;q=0.7, fr;q=0.3"})[1:] == (en, "en")
    assert error(url + "?lang=fr", **{"Accept-Language": "en"})[1] == fr
    assert error(url, **{"Accept-Language": "en;q=0, fr"})[1] == fr
    # FastAPI's own 404, the 401 and the 422 go the same way.
    assert error("/api/nowhere?lang=en")[:2] == ("http.404", catalogue.text("en", "api.http.404"))
    anonymous = client.get("/api/buildings", headers={"Accept-Language": "en"})
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "code": "auth.required",
        "detail": catalogue.text("en", "api.auth.required"),
    }
    anonymous = client.get("/api/buildings")
    assert anonymous.json()["detail"] == catalogue.text("fr", "api.auth.required")
    for lang in ("fr", "en"):
        bad = client.get("/api/buildings", params={"limit": 0, "lang": lang}, headers=auth)
        assert bad.status_code == 422 and bad.json()["code"] == "validation"
        (item,) = bad.json()["detail"]
        assert item["type"] == "greater_than_equal" and item["loc"] == ["query", "limit"]
        assert item["msg"] == catalogue.text(lang, "invalid.greater_than_equal", ge=1)
        assert leaked([item["msg"]], lang) == []
    # Alerts: title, message and severity in the request's language; the stable keys stay.
    names = [b.name for b in service.inventory.buildings.values()]
    names += [c.name for c in service.inventory.communes.values()]
    names += [f"{d.name} {d.dev_eui}" for d in service.inventory.devices.values()]
    seen: dict[str, list[dict[str, Any]]] = {}
    for lang in ("fr", "en"):
        answer = client.get("/api/alerts", headers=auth | {"Accept-Language": lang})
        assert answer.status_code == 200
        items = answer.json()["items"]
        assert items, "the village has open alerts"
        seen[lang] = items
        texts = [f"{a['title']} {a['message']} {a['severity_text']}" for a in items]
        assert leaked(texts, lang, names) == [], lang
    leak = next(a for a in seen["en"] if a["rule"] == "water.leak")
    assert leak["title"].startswith("Leak detected") and leak["severity"] == "critical"
    assert leak["severity_text"] == catalogue.text("en", "severity.critical")
    french = next(a for a in seen["fr"] if a["id"] == leak["id"])
    assert french["title"].startswith("Fuite détectée") and french["severity"] == "critical"
    one = client.get(f"/api/alerts/{leak['id']}", params={"lang": "en"}, headers=auth)
    assert one.json()["title"] == leak["title"]
    # A conflict keeps its code in either language.
    alert = open_alert(service)
    ops = bearer(OPERATOR_TOKEN)
    assert client.post(f"/api/alerts/{alert}/resolve", headers=ops).status_code == 200
    again = client.post(f"/api/alerts/{alert}/resolve?lang=en", headers=ops)
    assert again.status_code == 409
    assert again.json() == {
        "code": "alert.already_resolved",
        "detail": catalogue.text("en", "api.alert.already_resolved", id=alert),
    }


def test_the_deployment_language_is_the_default(tmp_path: Path) -> None:
    svc = make_service(tmp_path)
    svc.settings.site.language = "en"
    try:
        with serve(svc) as c:
            answer = c.get("/api/buildings/nowhere/summary", headers=bearer(VIEWER_TOKEN))
            assert answer.json()["detail"] == catalogue.text(
                "en", "api.building.unknown", building="nowhere"
            )
            assert answer.headers["content-language"] == "en"
    finally:
        svc.stop()
