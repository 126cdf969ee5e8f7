"""The ASGI app: API, pages, screens, /healthz and /metrics, behind the security headers.

Built once per service by :func:`create_app`; the service serves it with uvicorn
(:mod:`lorawatch.web.server`). FastAPI's own API docs pull their scripts from a CDN, and the
machine of a small commune may have no Internet: ``/api/docs`` is our page made from the
schema (:mod:`lorawatch.web.apidocs`), without any script; the schema is at
``/api/openapi.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lorawatch import __version__
from lorawatch.web import alerts as alerts_mod
from lorawatch.web import api, apidocs, pages, problems
from lorawatch.web.deps import WebContext, identify
from lorawatch.web.figures import Figures
from lorawatch.web.models import Health, PublicHealth
from lorawatch.web.security import Authenticator, Principal, content_security_policy

if TYPE_CHECKING:
    from lorawatch.app.service import Service

log = structlog.get_logger(__name__)
HERE = Path(__file__).resolve().parent


class SecurityHeaders:
    """Pure ASGI middleware: headers on every answer, and one log line per request.

    The log line has the path without its query string (a screen's token travels there) and
    never a header. Screens may be framed by the configured signage origins; nothing else can.
    """

    def __init__(self, app: ASGIApp, screen_ancestors: list[str]) -> None:
        self.app = app
        self.default_csp = content_security_policy()
        self.screen_csp = content_security_policy(screen_ancestors)
        self.screen_framable = bool(screen_ancestors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        screen = path.startswith("/screens/")
        began = time.monotonic()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = self.screen_csp if screen else self.default_csp
                if not (screen and self.screen_framable):
                    headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Cross-Origin-Resource-Policy"] = "same-origin"
                headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                if "cache-control" not in headers:
                    headers["Cache-Control"] = (
                        "public, max-age=3600" if path.startswith("/static/") else "no-store"
                    )
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            ms = round((time.monotonic() - began) * 1000, 1)
            level = "error" if status >= 500 else "info" if status in (401, 403, 429) else "debug"
            getattr(log, level)("http", method=scope["method"], path=path, status=status, ms=ms)


def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 (``loc`` names the field, ``type`` the reason, ``msg`` says it in the
    request's language) without echoing the input; a page for a browser."""
    assert isinstance(exc, RequestValidationError)
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return problems.validation_json(request, exc)
    errors = problems.validation_errors(request, exc)
    return pages.error_page(request, 422, "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in errors))


def public_health(health: dict[str, Any]) -> dict[str, Any]:
    """The anonymous part of ``Service.health()``: a whitelist, so that a field added later
    (a path, an error text) stays private unless it is added here on purpose."""
    return PublicHealth(
        status=health["status"],
        time=health["time"],
        source_connected=bool(health["source"].get("connected")),
        stores={
            name: "blocked" if store.get("blocked") else "ok"
            for name, store in health["stores"].items()
        },
    ).model_dump(mode="json")


def create_app(service: Service) -> FastAPI:
    """The web app of ``service``: its settings decide users, tokens, screens and CORS."""
    http = service.settings.http
    port = alerts_mod.probe(service)
    figures = Figures(service, open_alerts=port.open_count if port else None)
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app = FastAPI(
        title="lorawatch",
        version=__version__,
        description=(__doc__ or "").split("\n\n")[0]
        + "\n\nAuthentication: a bearer token ([[http.tokens]]) or a user ([[http.users]]).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    auth = Authenticator(http)
    app.state.ctx = WebContext(service, http, auth, figures, port, templates)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.http_error)
    app.add_exception_handler(pages.LoginRequired, pages.login_redirect)
    app.include_router(api.router)
    if port is not None:
        app.include_router(api.alerts_router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Service health (503 when degraded); the details need a viewer",
        response_model=PublicHealth | Health,
        responses={503: {"model": PublicHealth | Health, "description": "Degraded."}},
        # Credentials are optional here (``{}``): anyone gets the public part.
        openapi_extra={"security": [{}, {"HTTPBearer": []}, {"HTTPBasic": []}]},
    )
    def healthz(principal: Annotated[Principal | None, Depends(identify)]) -> JSONResponse:
        health = service.health()
        code = 200 if health["status"] == "ok" else 503
        if principal is not None:
            return JSONResponse(health, status_code=code)
        return JSONResponse(public_health(health), status_code=code)

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs() -> HTMLResponse:
        spec = app.openapi()
        info = spec.get("info", {})
        html = templates.get_template("apidocs.html").render(
            title=info.get("title", "lorawatch"),
            version=info.get("version", ""),
            description=info.get("description", ""),
            groups=apidocs.operations(spec),
            models=apidocs.schemas(spec),
        )
        return HTMLResponse(html)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if http.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=http.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, screen_ancestors=http.screens.frame_ancestors)
    if not auth.has_principals:
        log.warning(
            "no [[http.users]] nor [[http.tokens]]: the API and the technical pages refuse "
            "everyone; `lorawatch web hash-password` makes a user"
        )
    return app
