"""The dashboards, derived from one commune's part of the inventory, one module each.

Technical services get a commune overview (:mod:`.overview`), a building detail
(:mod:`.building`), water and leaks (:mod:`.water`), waste bins (:mod:`.waste`), street
lighting (:mod:`.lighting`) and fleet health (:mod:`.fleet`); each building also gets an
occupant screen for its hall (:mod:`.screen`). A dashboard is only made when the commune has
devices it would show, so a commune with bins only gets no energy dashboard. Shared pieces are
in :mod:`.base`.
"""

from __future__ import annotations

from typing import Any, Final

from lorawatch.dashboards.base import SCREEN_TAG, CommuneView, communes, uid
from lorawatch.dashboards.building import building_detail
from lorawatch.dashboards.fleet import fleet
from lorawatch.dashboards.lighting import lighting
from lorawatch.dashboards.overview import overview
from lorawatch.dashboards.screen import occupant_screen
from lorawatch.dashboards.waste import waste
from lorawatch.dashboards.water import water

# --- all of them -----------------------------------------------------------------------------

TECHNICAL: Final = (
    ("overview", overview),
    ("building", building_detail),
    ("water", water),
    ("waste", waste),
    ("lighting", lighting),
    ("fleet", fleet),
)


def technical(view: CommuneView) -> dict[str, dict[str, Any]]:
    """The technical services' dashboards of a commune, by file stem."""
    out: dict[str, dict[str, Any]] = {}
    for key, make in TECHNICAL:
        made = make(view)
        if made is not None:
            out[key] = made
    return out


def screens(view: CommuneView) -> dict[str, dict[str, Any]]:
    """The occupant screens of a commune, by building id."""
    out: dict[str, dict[str, Any]] = {}
    for building in view.buildings:
        made = occupant_screen(view, building)
        if made is not None:
            out[building.id] = made
    return out


__all__ = ["SCREEN_TAG", "TECHNICAL", "CommuneView", "communes", "screens", "technical", "uid"]
