"""API errors in the caller's language, each with a stable ``code`` beside its sentence.

A script reads ``code`` (``alert.not_found``, ``auth.required``, ``validation``...) and never
the sentence; a person reads ``detail``, in the language the request asked for: ``?lang=fr|en``
first, then the ``Accept-Language`` header, then the deployment's ``site.language``. The
sentences are the catalogue's (``api.*`` ids), so the French and English ones stay complete
together. FastAPI's own 404/405 and the 422 of a bad parameter go through the same handlers:
a 422 keeps FastAPI's list (``loc`` names the field, ``type`` the reason, both stable) with
``msg`` said from the reason's type and limits (:mod:`lorawatch.core.reasons`, the catalogue's
``invalid.*``, as the command line says a file's problems).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lorawatch.core import catalogue, reasons
from lorawatch.core.formats import LANGS, Lang


class ApiError(StarletteHTTPException):
    """An HTTP error whose sentence is the catalogue's ``api.<code>``, filled with ``values``."""

    def __init__(
        self,
        status_code: int,
        code: str,
        headers: dict[str, str] | None = None,
        **values: object,
    ) -> None:
        self.code = code
        self.values = values
        super().__init__(status_code, catalogue.text("en", f"api.{code}", **values), headers)


def deployment_language(request: Request) -> Lang:
    """The deployment's ``site.language`` (the app's service carries the settings)."""
    ctx = getattr(request.app.state, "ctx", None)
    settings = getattr(getattr(ctx, "service", None), "settings", None)
    lang = getattr(getattr(settings, "site", None), "language", "fr")
    return catalogue.language(lang, "fr")


def accepted(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first (q=0 left out)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag.strip().split("-")[0].lower()))
    return [tag for _, _, tag in sorted(ranked)]


def request_language(request: Request) -> Lang:
    """``?lang=`` when the catalogue has it, else the first ``Accept-Language`` it has, else
    the deployment's language."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return catalogue.language(asked, "fr")
    for tag in accepted(request.headers.get("accept-language", "")[:512]):
        if tag in LANGS:
            return catalogue.language(tag, "fr")
    return deployment_language(request)


def _json(body: dict[str, Any], status: int, lang: Lang, headers: Any = None) -> JSONResponse:
    answer = JSONResponse(body, status_code=status, headers=dict(headers or {}))
    answer.headers["Content-Language"] = lang
    answer.headers["Vary"] = "Accept-Language"
    return answer


def http_error(request: Request, exc: Exception) -> Response:
    """Every HTTP error as ``{"detail": sentence, "code": stable id}`` in the request's
    language; an error raised without a code (FastAPI's own 404, 405) gets ``http.<status>``."""
    assert isinstance(exc, StarletteHTTPException)
    lang = request_language(request)
    if isinstance(exc, ApiError):
        code, detail = exc.code, catalogue.text(lang, f"api.{exc.code}", **exc.values)
    else:
        code = f"http.{exc.status_code}"
        key = f"api.{code}"
        detail = catalogue.text(lang, key) if catalogue.has(lang, key) else str(exc.detail)
    return _json({"detail": detail, "code": code}, exc.status_code, lang, exc.headers)


def validation_message(error: dict[str, Any], lang: Lang) -> str:
    """One 422 reason in ``lang``, from its ``type`` and limits, or from the ``key`` our own
    checks put in its context (:func:`lorawatch.web.deps.invalid`); the input is not echoed."""
    return reasons.of_error(error, echo=False).text(lang)


def validation_errors(request: Request, exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's list of bad fields, without echoing the input, ``msg`` in the request's
    language."""
    lang = request_language(request)
    return [
        {
            "loc": list(err.get("loc", ())),
            "msg": validation_message(err, lang),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]


def validation_json(request: Request, exc: RequestValidationError) -> Response:
    lang = request_language(request)
    body = {"detail": validation_errors(request, exc), "code": "validation"}
    return _json(body, 422, lang)
