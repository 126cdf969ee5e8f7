"""What every route needs: the service's context, the caller's identity, validated ranges.

Authentication is a dependency, not a middleware, so that each route says in its signature
(and the OpenAPI schema shows) which role it needs. The three ways in:

- ``Authorization: Bearer <token>``: scripts and integrations;
- ``Authorization: Basic``: a user, for curl and the like;
- the ``lorawatch_session`` cookie set by ``/login``: the pages.

A browser sends a cookie, and Basic credentials it once typed, on its own, even with a form
another site submits. So a state-changing request that used either is refused when it comes
from another site (:func:`~lorawatch.web.security.cross_site`: ``Sec-Fetch-Site``, else
``Origin``), and one that used the cookie must also carry the session's CSRF token (form field
``csrf`` or header ``X-CSRF-Token``; the cookie is also ``SameSite=Strict``). Basic is kept
for curl and the like, which send no such header, but no longer offered in the 401 challenge,
so that a browser never asks for it and never keeps it. Bearer tokens are never sent by a
browser on its own and need neither check.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBasic, HTTPBearer
from fastapi.security.http import HTTPBasicCredentials

from lorawatch.core import catalogue, timeutil
from lorawatch.pipeline.store import Interval
from lorawatch.web.problems import ApiError
from lorawatch.web.security import BEARER, Authenticator, Principal, Role, cross_site
from lorawatch.web.settings import HttpConfig

if TYPE_CHECKING:
    from jinja2 import Environment

    from lorawatch.app.service import Service
    from lorawatch.web.alerts import AlertsPort
    from lorawatch.web.figures import Figures

log = structlog.get_logger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_SPAN: dict[str, timedelta] = {
    "hour": timedelta(hours=2000),
    "day": timedelta(days=400),
    "week": timedelta(days=400),
    "month": timedelta(days=400),
}
"""Longest range of one consumption request: its baseline needs every hour's typical value
(and four weeks before), so the cost grows with the span, whatever the interval."""


@dataclass(slots=True)
class WebContext:
    """The service and the web helpers built once per app."""

    service: Service
    http: HttpConfig
    auth: Authenticator
    figures: Figures
    alerts: AlertsPort | None
    templates: Environment


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


Ctx = Annotated[WebContext, Depends(context)]

bearer_scheme = HTTPBearer(
    auto_error=False, description="A token from `lorawatch web new-token` ([[http.tokens]])."
)
basic_scheme = HTTPBasic(auto_error=False, description="A user of [[http.users]].")
cookie_scheme = APIKeyCookie(
    name=Authenticator.COOKIE, auto_error=False, description="The session set by /login."
)


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _unauthorized(code: str) -> ApiError:
    return ApiError(401, code, headers={"WWW-Authenticate": 'Bearer realm="lorawatch"'})


def identify(
    request: Request,
    ctx: Ctx,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    basic: Annotated[HTTPBasicCredentials | None, Depends(basic_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal | None:
    """The caller, None when anonymous; 401 for wrong credentials, 429 after too many."""
    client = client_of(request)
    if bearer is None and basic is None:
        return ctx.auth.session(cookie) if cookie else None
    identity = BEARER if bearer is not None else basic.username[:64] if basic else ""
    wait = ctx.auth.limiter.blocked_for(client, identity)
    if wait:
        raise ApiError(429, "auth.too_many", headers={"Retry-After": str(int(wait))})
    if bearer is not None:
        principal = ctx.auth.bearer(bearer.credentials)
        kind, who = "bearer", ""
    else:
        assert basic is not None
        principal = ctx.auth.password(basic.username, basic.password)
        kind, who = "basic", basic.username
    if principal is None:
        ctx.auth.limiter.failed(client, identity)
        log.warning("authentication failed", method=kind, user=who[:64], client=client)
        raise _unauthorized("auth.wrong")
    ctx.auth.limiter.succeeded(client, identity)
    return principal


class Require:
    """Dependency: a principal with at least ``role``, else 401 (anonymous) or 403."""

    def __init__(self, role: Role) -> None:
        self.role: Role = role

    async def __call__(
        self,
        request: Request,
        principal: Annotated[Principal | None, Depends(identify)],
    ) -> Principal:
        if principal is None:
            raise _unauthorized("auth.required")
        if not principal.may(self.role):
            raise ApiError(403, f"auth.needs_{self.role}")
        if request.method in SAFE_METHODS or principal.via == "bearer":
            return principal
        session = principal.via == "session"
        if cross_site(request.headers, request.headers.get("host"), allow_null=session):
            log.warning("cross-site request refused", path=request.url.path, via=principal.via)
            raise ApiError(403, "auth.cross_site")
        if session:
            sent = request.headers.get("x-csrf-token", "")
            if not sent:
                form: Any = await request.form()
                sent = str(form.get("csrf", ""))
            if not hmac.compare_digest(sent, principal.csrf):
                raise ApiError(403, "auth.csrf")
        return principal


Viewer = Annotated[Principal, Depends(Require("viewer"))]
Operator = Annotated[Principal, Depends(Require("operator"))]


def invalid(
    field: str, key: str, where: str = "query", value: object = None, **values: object
) -> Exception:
    """A 422 naming the field and the reason, like FastAPI's own validation errors; the
    reason is the catalogue's ``invalid.<key>`` (``type`` stays ``value_error``)."""
    reason = catalogue.text("en", f"invalid.{key}", **values)
    ctx = {"key": key, **values}
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, field), "msg": reason, "input": value, "ctx": ctx}]
    )


DEFAULT_SPAN: dict[str, timedelta] = {
    "hour": timedelta(days=2),
    "day": timedelta(days=30),
    "week": timedelta(weeks=12),
    "month": timedelta(days=365),
}


def time_range(
    start: datetime | None,
    end: datetime | None,
    interval: Interval,
    tz: str,
    now: datetime,
) -> tuple[datetime, datetime]:
    """Check and complete a requested range; naive times are local to ``tz``.

    Defaults: ``end`` now, ``start`` a usual span before it. Errors name the field at fault.
    """
    zone = timeutil.zone(tz)

    def aware(t: datetime | None, name: str) -> datetime | None:
        if t is None:
            return None
        t = t.replace(tzinfo=zone) if t.tzinfo is None else t
        try:
            t = t.astimezone(UTC)
        except (OverflowError, ValueError):
            raise invalid(name, "out_of_range") from None
        if not EARLIEST <= t <= LATEST:
            raise invalid(name, "out_of_range", value=str(t))
        return t

    end_at = aware(end, "end") or now
    start_at = aware(start, "start") or end_at - DEFAULT_SPAN[interval]
    if start_at < EARLIEST:
        start_at = EARLIEST
    if end_at <= start_at:
        raise invalid("end", "end_before_start", value=end_at.isoformat())
    if end_at - start_at > MAX_SPAN[interval]:
        raise invalid("start", "span_too_long", days=MAX_SPAN[interval].days, interval=interval)
    return start_at, end_at
