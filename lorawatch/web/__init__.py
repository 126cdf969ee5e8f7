"""The built-in web: HTTP API, technical pages and occupant screens, served by the service.

Routes (``lorawatch.web.app.create_app``):

- ``/api/...``: JSON API, schema at ``/api/openapi.json``; viewer role to read, operator to
  acknowledge or resolve alerts;
- ``/`` and ``/buildings/<id>``: technical overview and building pages (login at ``/login``);
- ``/screens/<building>``: the occupant screen of a building, French by default, public and
  read-only unless ``http.screens.access`` asks for a token;
- ``/healthz`` and ``/metrics``: unauthenticated, for probes and Prometheus (``/healthz``
  keeps its paths and error texts for a viewer);
- ``/api/docs``: the API reference, rendered on the server from the schema.

Why a built-in web at all, beside Grafana: an occupant screen must be read-only by
construction (anonymous Grafana access set to Admin is a classic mistake, field notes), and a
small commune should get its overview without running another server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from lorawatch.app.service import Service


def create_app(service: Service) -> FastAPI:
    """The app of ``service`` (:func:`lorawatch.web.app.create_app`), imported on first use so
    that ``lorawatch web ...`` and the other commands do not load FastAPI."""
    # lazy: see the docstring
    from lorawatch.web.app import create_app as build

    return build(service)


__all__ = ["create_app"]
