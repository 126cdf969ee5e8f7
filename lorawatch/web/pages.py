"""HTML pages: the technical overview, a building's page, login, and the occupant screens.

Server-rendered with Jinja2 (autoescaped) and inline SVG, without any script: pages work on
an old browser, a locked-down kiosk and behind a strict content security policy. Technical
pages need a session (``/login``); acting on alerts needs the operator role and the
session's CSRF token in the form. Occupant screens show building totals only and nothing
that identifies a person, and refresh themselves with a meta refresh (keeping their token).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Cookie, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from lorawatch.alerts import texts as alert_texts
from lorawatch.core import catalogue, i18n, timeutil
from lorawatch.core.i18n import Lang
from lorawatch.core.timeutil import us
from lorawatch.web import svg
from lorawatch.web.alerts import AlertConflict, AlertNotFound, AlertOut
from lorawatch.web.deps import Ctx, WebContext, client_of, context, log
from lorawatch.web.figures import NOISE_FLOOR, ScreenFigures, state_fetch
from lorawatch.web.models import BuildingSummary, Compared, DeviceOut, Series
from lorawatch.web.problems import ApiError
from lorawatch.web.security import (
    Authenticator,
    Principal,
    cross_site,
    safe_next,
    screen_allowed,
)

router = APIRouter(include_in_schema=False)
LangQuery = Annotated[str | None, Query(max_length=5)]


class LoginRequired(Exception):
    """Raised by a page dependency: answered with a redirect to /login."""

    def __init__(self, target: str) -> None:
        self.target = target


def login_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.target, safe='/')}", status_code=303)


def _lang(ctx: WebContext, requested: str | None) -> Lang:
    """The request's ``?lang=`` when the catalogue has it, else the deployment's language."""
    return catalogue.language(requested, ctx.http.screens.language or "fr")


def render(
    request: Request, template_name: str, status: int = 200, lang: Lang = "fr", **values: Any
) -> HTMLResponse:
    ctx = context(request)
    template = ctx.templates.get_template(template_name)
    asked = request.query_params.get("lang")
    html = template.render(
        lang=lang,
        # Links keep a language asked for explicitly, and stay plain otherwise.
        lang_query=f"?lang={lang}" if asked in i18n.LANGS else "",
        t=lambda key, **kw: i18n.text(lang, key, **kw),
        num=lambda v, digits=None: i18n.number(v, lang, digits),
        pct=lambda r, signed=True: i18n.percent(r, lang, signed),
        stamp=lambda t: f"{i18n.long_date(t.date(), lang)} {i18n.clock(t, lang)}",
        long_date=lambda d: i18n.long_date(
            date.fromisoformat(d) if isinstance(d, str) else d, lang
        ),
        trend=trend,
        **values,
    )
    return HTMLResponse(html, status_code=status)


def error_page(
    request: Request, status: int, message: str, lang: Lang | None = None
) -> HTMLResponse:
    """An error page in ``lang`` (the request's ``?lang=``, else the deployment's)."""
    language = lang or _lang(context(request), request.query_params.get("lang"))
    return render(
        request, "error.html", status=status, lang=language, status_code=status, message=message
    )


def trend(ratio: float | None, tolerance: float = 0.03) -> str:
    """CSS class of a comparison: lower is good, higher is bad, within 3 % is the same."""
    if ratio is None:
        return "unknown"
    if ratio < -tolerance:
        return "good"
    if ratio > tolerance:
        return "bad"
    return "same"


def _same_origin(request: Request) -> None:
    """Refuse a state-changing request sent by a page of another site (defence in depth)."""
    if cross_site(request.headers, request.headers.get("host"), allow_null=True):
        raise ApiError(403, "auth.cross_site")


def page_user(
    request: Request,
    ctx: Ctx,
    session: Annotated[str | None, Cookie(alias=Authenticator.COOKIE)] = None,
) -> Principal:
    principal = ctx.auth.session(session) if session else None
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(safe_next(target))
    return principal


PageUser = Annotated[Principal, Depends(page_user)]


def form_user(
    request: Request,
    ctx: Ctx,
    csrf: Annotated[str, Form(max_length=128)] = "",
    session: Annotated[str | None, Cookie(alias=Authenticator.COOKIE)] = None,
) -> Principal:
    """An operator's session and its CSRF token, for the pages' forms."""
    _same_origin(request)
    principal = ctx.auth.session(session) if session else None
    if principal is None:
        raise ApiError(401, "auth.log_in")
    if not hmac.compare_digest(csrf, principal.csrf):
        raise ApiError(403, "auth.csrf")
    if not principal.may("operator"):
        raise ApiError(403, "auth.needs_operator")
    return principal


# -- login --------------------------------------------------------------------------------------


@router.get("/login")
def login_form(
    request: Request, ctx: Ctx, next: str | None = None, lang: LangQuery = None
) -> HTMLResponse:
    return render(
        request,
        "login.html",
        lang=_lang(ctx, lang),
        next=safe_next(next),
        failed=False,
        configured=ctx.auth.has_principals,
    )


@router.post("/login")
def login(
    request: Request,
    ctx: Ctx,
    user: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=512)] = "/",
    lang: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    _same_origin(request)
    language = _lang(ctx, lang)
    client = client_of(request)
    wait = ctx.auth.limiter.blocked_for(client, user)
    if wait:
        refused = error_page(request, 429, i18n.text(language, "login.too_many"), language)
        refused.headers["Retry-After"] = str(int(wait))
        return refused
    principal = ctx.auth.password(user, password)
    if principal is None:
        ctx.auth.limiter.failed(client, user)
        log.warning("login failed", user=user[:64], client=client)
        return render(
            request,
            "login.html",
            status=401,
            lang=language,
            next=safe_next(next),
            failed=True,
            configured=ctx.auth.has_principals,
        )
    ctx.auth.limiter.succeeded(client, user)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        Authenticator.COOKIE,
        ctx.auth.issue(principal),
        max_age=ctx.http.session_hours * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    _same_origin(request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(Authenticator.COOKIE, path="/")
    return response


# -- technical pages ----------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """A building's line of the overview."""

    summary: BuildingSummary
    screen: str


def _dead_letters_last_day(ctx: WebContext) -> int:
    since = ctx.figures.now() - timedelta(days=1)
    return int(
        state_fetch(ctx.service)(
            "SELECT COUNT(*) FROM dead_letters WHERE received_us >= ?", (us(since),)
        )[0][0]
    )


def _open_alerts(
    ctx: WebContext, lang: Lang, building: str | None = None, limit: int = 50
) -> list[AlertOut]:
    """Open alerts, their title and message rendered again in the page's language."""
    if ctx.alerts is None:
        return []
    items, _ = ctx.alerts.list(["open", "acknowledged"], building, limit, 0)
    out = []
    for a in items:
        title, message = alert_texts.again(a.title, a.message, a.values, lang)
        out.append(a.model_copy(update={"title": title, "message": message}))
    return out


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ctx: Ctx, user: PageUser, lang: LangQuery = None) -> HTMLResponse:
    summaries = ctx.figures.summaries()
    problems = [d for d in ctx.figures.devices() if d.silent or d.low_battery]
    problems.sort(
        key=lambda d: (
            not d.low_battery,
            d.last_seen or datetime.min.replace(tzinfo=ctx.figures.now().tzinfo),
        )
    )
    communes = ctx.service.inventory.communes
    language = _lang(ctx, lang)
    return render(
        request,
        "overview.html",
        lang=language,
        user=user,
        title=", ".join(c.name for c in communes.values()) or "lorawatch",
        rows=[Row(s, f"/screens/{s.building}") for s in summaries],
        alerts=_open_alerts(ctx, language),
        alerts_enabled=ctx.alerts is not None,
        problems=problems[:100],
        problem_count=len(problems),
        device_count=len(ctx.service.inventory.devices),
        dead_letters=_dead_letters_last_day(ctx),
        now=ctx.figures.now().astimezone(timeutil.zone(ctx.service.settings.site.timezone)),
        buildings=ctx.service.inventory.buildings,
    )


def _daily_bars(series: Series, lang: Lang, now: datetime) -> list[svg.Bar]:
    return [
        svg.Bar(
            label=i18n.short_day(p.start.date(), lang),
            value=p.value,
            reference=p.baseline,
            marker=p.last_year,
            shaded=p.start.weekday() >= 5
            or p.start.date() == now.astimezone(p.start.tzinfo).date(),
        )
        for p in series.points
    ]


@router.get("/buildings/{building}", response_class=HTMLResponse)
def building_page(
    request: Request, ctx: Ctx, user: PageUser, building: str, lang: LangQuery = None
) -> HTMLResponse:
    if building not in ctx.service.inventory.buildings:
        return error_page(
            request, 404, i18n.text(_lang(ctx, lang), "error.unknown_building", building=building)
        )
    language = _lang(ctx, lang)
    figures = ctx.figures
    now = figures.now()
    b = ctx.service.inventory.buildings[building]
    tz = figures.timezone(building)
    today = timeutil.period_start(now, "day", tz)
    hourly = figures.series(building, "energy", "hour", today - timedelta(days=6), now)
    daily = figures.series(building, "energy", "day", today - timedelta(days=29), now)
    water = figures.series(building, "water", "day", today - timedelta(days=29), now)
    decimal = "," if language == "fr" else "."
    curve = svg.line_chart(
        [p.value for p in hourly.points],
        [p.baseline for p in hourly.points],
        [
            i18n.short_day(p.start.date(), language) if p.start.hour == 0 else ""
            for p in hourly.points
        ],
        title=i18n.text(language, "chart.curve_title", name=b.name),
        decimal=decimal,
        unit="kWh",
        label_every=1,
    )
    bars = svg.bar_chart(
        _daily_bars(daily, language, now),
        title=i18n.text(language, "chart.daily_title", name=b.name),
        decimal=decimal,
        unit="kWh",
        label_every=3,
    )
    water_bars = svg.bar_chart(
        _daily_bars(water, language, now),
        title=i18n.text(language, "chart.water_title", name=b.name),
        decimal=decimal,
        unit="m³",
        label_every=3,
        css="chart water",
    )
    devices: list[DeviceOut] = [d for d in figures.devices() if d.building == building]
    return render(
        request,
        "building.html",
        lang=language,
        user=user,
        building=b,
        summary=figures.summary(building),
        campaign=figures.campaign(building),
        occupancy=figures.occupancy(building),
        curve=curve,
        bars=bars,
        water_bars=water_bars,
        daily=daily,
        devices=devices,
        alerts=_open_alerts(ctx, language, building),
        alerts_enabled=ctx.alerts is not None,
        now=now.astimezone(timeutil.zone(tz)),
    )


def _alert_action(
    request: Request, ctx: WebContext, alert_id: int, action: str, who: Principal, back: str
) -> Response:
    lang = _lang(ctx, request.query_params.get("lang"))
    if ctx.alerts is None:
        return error_page(request, 404, i18n.text(lang, "alerts.disabled"), lang)
    try:
        if action == "ack":
            ctx.alerts.ack(alert_id, who.name)
        else:
            ctx.alerts.resolve(alert_id, who.name, "")
    except AlertNotFound:
        return error_page(request, 404, i18n.text(lang, "alerts.unknown", id=alert_id), lang)
    except AlertConflict as exc:
        return error_page(request, 409, i18n.text(lang, f"api.alert.{exc.code}", id=alert_id), lang)
    return RedirectResponse(safe_next(back), status_code=303)


@router.post("/alerts/{alert_id}/ack")
def ack_form(
    request: Request,
    ctx: Ctx,
    alert_id: int,
    who: Annotated[Principal, Depends(form_user)],
    back: Annotated[str, Form(max_length=512)] = "/",
) -> Response:
    return _alert_action(request, ctx, alert_id, "ack", who, back)


@router.post("/alerts/{alert_id}/resolve")
def resolve_form(
    request: Request,
    ctx: Ctx,
    alert_id: int,
    who: Annotated[Principal, Depends(form_user)],
    back: Annotated[str, Form(max_length=512)] = "/",
) -> Response:
    return _alert_action(request, ctx, alert_id, "resolve", who, back)


# -- occupant screens ---------------------------------------------------------------------------


@dataclass(slots=True)
class Figure:
    """One big figure of a screen, already worded."""

    title: str
    value: str
    unit: str
    comparison: str
    trend: str
    reference: str = ""
    money: str = ""
    extra: str = ""


DEFAULT_BAND = 0.03
"""The "as usual" band when the past weeks are too few to measure one."""


def _pct(ratio: float, lang: Lang) -> str:
    """A signed percentage, with one decimal under 10 %: a small change never reads "0 %"."""
    if abs(ratio) >= 0.095:
        return i18n.percent(ratio, lang)
    shown = i18n.number(abs(ratio) * 100, lang, 1)
    sign = "+" if ratio > 0 else i18n.MINUS if ratio < 0 else ""
    return f"{sign}{shown}{i18n.NNBSP if lang == 'fr' else ''}%"


def _compare_line(
    c: Compared, lang: Lang, against: str, missing: str, band: float = DEFAULT_BAND
) -> tuple[str, str]:
    """Arrow, percentage and words; within ``band`` of the reference, "as usual"."""
    if c.ratio is None:
        return missing, "unknown"
    if abs(c.ratio) <= band:
        return f"= {i18n.text(lang, 'same')}", "same"
    arrow = "▼" if c.ratio < 0 else "▲"
    return f"{arrow} {_pct(c.ratio, lang)} {i18n.text(lang, against)}", trend(c.ratio, band)


def _amount(value: float | None, unit: str, lang: Lang) -> tuple[str, str]:
    """Big-figure text: water under 10 m³ reads better in litres."""
    if value is None:
        return "–", unit
    if unit == "m³" and value < 10:
        return i18n.number(value * 1000, lang, 0), i18n.text(lang, "litres")
    return i18n.number(value, lang), unit


def _reference(value: float | None, key: str, lang: Lang) -> str:
    if value is None:
        return ""
    amount, unit = _amount(value, "kWh", lang)
    return i18n.text(lang, key, value=f"{amount}\u00a0{unit}")


def _money(kwh: float | None, ctx: WebContext, lang: Lang) -> str:
    """Euros and kg of CO2 for ``kwh``, from the configured price and emission factor."""
    if kwh is None:
        return ""
    screens = ctx.http.screens
    eur = abs(kwh) * screens.price_eur_kwh
    co2 = abs(kwh) * screens.co2_kg_kwh
    return i18n.text(
        lang,
        "screen.money",
        eur=i18n.number(eur, lang, 0 if eur >= 100 else 2),
        co2=i18n.number(co2, lang, 0 if co2 >= 100 else 1),
    )


def _campaign(figures: ScreenFigures, ctx: WebContext, lang: Lang) -> Figure | None:
    """Progress since the campaign began, worded honestly: a gap within the measuring margin
    is "about the same", never "x kWh saved" next to "0 %"."""
    if figures.campaign is None:
        return None
    c = figures.campaign
    title = i18n.text(lang, "since", date=i18n.long_date(c.start, lang))
    if c.ratio is not None and c.saved is not None:
        saved_value, saved_unit = _amount(abs(c.saved), "kWh", lang)
        amount = f"{saved_value}\u00a0{saved_unit}"
        band = max(figures.noise or DEFAULT_BAND, NOISE_FLOOR) / 2
        if abs(c.ratio) <= band:
            key = "screen.campaign_stable_less" if c.saved >= 0 else "screen.campaign_stable_more"
            return Figure(
                title, _pct(c.ratio, lang), "", i18n.text(lang, key, value=amount), "same"
            )
        key = "saved" if c.saved >= 0 else "overspent"
        return Figure(
            title,
            _pct(c.ratio, lang),
            "",
            f"{i18n.text(lang, key, value=amount)} · {i18n.text(lang, 'vs_before')}",
            trend(c.ratio, band),
            money=_money(c.saved, ctx, lang),
        )
    total_value, total_unit = _amount(c.total, "kWh", lang)
    late = c.measured_since is not None and c.measured_since > c.start + timedelta(days=1)
    measured = (
        i18n.text(lang, "measured_since", date=i18n.long_date(c.measured_since, lang))
        if late and c.measured_since
        else i18n.text(lang, "consumed_in", days=c.days)
    )
    return Figure(
        i18n.text(lang, "campaign_since", date=i18n.long_date(c.start, lang)),
        total_value,
        total_unit,
        f"{measured} · {i18n.text(lang, 'no_reference')}",
        "unknown",
    )


def _weather(figures: ScreenFigures, lang: Lang) -> tuple[str, str] | None:
    """The weather-adjusted line and its class: a change only when it stands out of the
    model's uncertainty, "as before" otherwise, and plainly "not enough history" or "no
    reliable figure" when the model was refused."""
    w = figures.weather
    if w is None:
        return None
    if w.change is None:
        key = "unreliable" if w.refused == "guideline_14" else "no_history"
        return i18n.text(lang, f"screen.weather.{key}"), "unknown"
    if not w.significant or abs(w.change) < NOISE_FLOOR:
        return i18n.text(lang, f"screen.weather.same_{w.against}"), "same"
    return (
        i18n.text(lang, f"screen.weather.{w.against}", pct=_pct(w.change, lang)),
        trend(w.change, NOISE_FLOOR),
    )


def _screen_chart(figures: ScreenFigures, title: str, lang: Lang, narrow: bool) -> Markup:
    """Today's hours against a typical day; the narrow one (phones) labels every 6 h, on a
    smaller drawing, so that its labels stay as large once scaled down to the screen."""
    every = 6 if narrow else 3
    return svg.bar_chart(
        [
            svg.Bar(
                label=f"{h.start:%H}" if h.start.hour % every == 0 else "",
                value=h.value,
                reference=h.typical,
            )
            for h in figures.today
        ],
        title=i18n.text(lang, "screen.chart_title", title=title),
        unit="kWh",
        width=420 if narrow else 900,
        height=260 if narrow else 300,
        css="chart screen-chart narrow" if narrow else "chart screen-chart wide",
        decimal="," if lang == "fr" else ".",
        margins=(72.0, 36.0, 40.0),
    )


@router.get("/screens/{building}", response_class=HTMLResponse)
def screen(
    request: Request,
    ctx: Ctx,
    building: str,
    token: Annotated[str | None, Query(max_length=256)] = None,
    lang: LangQuery = None,
) -> HTMLResponse:
    if building not in ctx.service.inventory.buildings or not screen_allowed(
        ctx.http, building, token
    ):
        # The same answer for "no such building" and "not allowed": nothing to enumerate.
        return error_page(request, 404, i18n.text(_lang(ctx, lang), "error.unknown_screen"))
    language = _lang(ctx, lang)
    figures = ctx.figures.screen(building)
    s = figures.summary
    zone_now = s.at.astimezone(figures.today[0].start.tzinfo) if figures.today else s.at
    band = figures.noise or DEFAULT_BAND
    value, unit = _amount(s.energy.today.value, "kWh", language)
    line, cls = _compare_line(
        s.energy.today, language, "vs_typical_day", i18n.text(language, "learning"), band
    )
    reference = _reference(s.energy.today.reference, "typical_so_far", language)
    if reference and figures.noise is not None:
        margin = i18n.text(language, "screen.usual_band", pct=_pct(band, language).lstrip("+"))
        reference = f"{reference} · {margin}"
    last_week = ""
    if figures.last_week_day is not None and figures.last_week_day.reference is not None:
        amount, amount_unit = _amount(figures.last_week_day.reference, "kWh", language)
        day = i18n.day_name(zone_now.date(), language).capitalize()
        last_week = i18n.text(
            language, "screen.last_week_day", day=day, value=f"{amount}\u00a0{amount_unit}"
        )
    today = Figure(
        i18n.text(language, "today"),
        value,
        unit,
        line,
        cls,
        reference,
        money=_money(s.energy.today.value, ctx, language),
        extra=last_week,
    )
    value, unit = _amount(s.energy.week.value, "kWh", language)
    typical_week = s.energy.week_against == "typical_week"
    line, cls = _compare_line(
        s.energy.week, language, "vs_typical_week" if typical_week else "vs_last_week", ""
    )
    week = Figure(
        i18n.text(language, "this_week"),
        value,
        unit,
        line,
        cls,
        _reference(
            s.energy.week.reference,
            "typical_week_so_far" if typical_week else "last_week_so_far",
            language,
        ),
        money=_money(s.energy.week.value, ctx, language),
    )
    water_value, water_unit = _amount(s.water.today.value, "m³", language)
    water_line, water_cls = _compare_line(s.water.today, language, "vs_typical_day", "")
    typical = [h.typical for h in figures.today]
    has_curve = any(v is not None for v in [*typical, *(h.value for h in figures.today)])
    stale = None
    if s.last_data is None or s.at - s.last_data > timedelta(hours=2):
        stale = (
            i18n.text(
                language,
                "stale",
                time=i18n.clock(s.last_data.astimezone(zone_now.tzinfo), language),
            )
            if s.last_data
            else i18n.text(language, "no_data")
        )
    response = render(
        request,
        "screen.html",
        lang=language,
        name=s.name,
        date_text=i18n.long_date(zone_now.date(), language, weekday=True),
        time_text=i18n.clock(zone_now, language),
        today=today,
        week=week,
        campaign=_campaign(figures, ctx, language),
        weather=_weather(figures, language),
        weather_in_campaign=figures.weather is not None
        and figures.weather.against == "campaign"
        and figures.campaign is not None,
        water=(water_value, water_unit, water_line, water_cls),
        chart=_screen_chart(figures, today.title, language, False) if has_curve else None,
        chart_narrow=_screen_chart(figures, today.title, language, True) if has_curve else None,
        tip=i18n.tip(language, ctx.service.inventory.buildings[building].usage, building, zone_now),
        refresh_s=ctx.http.screens.refresh_s,
        stale=stale,
    )
    return response


@router.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it on every page; an empty answer keeps the logs and consoles clean."""
    return Response(status_code=204)
