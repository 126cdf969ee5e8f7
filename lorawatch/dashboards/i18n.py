"""French by default, English on request: the two languages of the dashboards' labels.

The labels are written where they are used, as ``t("français", "English")`` pairs, so a panel
and its two titles are read and reviewed together and neither language can be forgotten.
Longer texts (the occupant screen's good-habit tips) live here, per building usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

Lang = Literal["fr", "en"]
LANGS: Final[tuple[str, ...]] = get_args(Lang)


@dataclass(frozen=True, slots=True)
class Translator:
    lang: Lang = "fr"

    def __call__(self, fr: str, en: str) -> str:
        return fr if self.lang == "fr" else en


_TIPS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "default": (
        (
            "Éteignez les lumières et les écrans en quittant une pièce : la nuit, ce qui reste "
            "allumé pèse sur la facture sans servir à personne.",
            "Switch off lights and screens when you leave a room: whatever stays on at night "
            "costs money and serves nobody.",
        ),
        (
            "19 °C suffisent dans un bureau ; chaque degré de moins, c'est environ 7 % de "
            "chauffage économisé.",
            "19 °C is enough in an office; each degree less saves about 7 % of heating.",
        ),
        (
            "Fenêtre ouverte ? Coupez le radiateur : aérer 5 minutes suffit, chauffer la rue non.",
            "Window open? Turn the radiator off: five minutes of fresh air is enough, heating "
            "the street is not.",
        ),
    ),
    "school": (
        (
            "En fin de journée, la dernière personne qui quitte la classe éteint lumières, "
            "tableau numérique et ordinateurs.",
            "At the end of the day, the last one out of the classroom switches off lights, "
            "the interactive board and computers.",
        ),
        (
            "Une chasse d'eau qui coule toute la nuit, c'est plusieurs mètres cubes perdus : "
            "signalez-la à la mairie.",
            "A flush that runs all night wastes several cubic metres: report it to the mairie.",
        ),
        (
            "Portes fermées entre les couloirs et les classes : la chaleur reste où sont les "
            "élèves.",
            "Keep doors between corridors and classrooms closed: heat stays where the pupils are.",
        ),
    ),
    "canteen": (
        (
            "Allumez les fours et les étuves au moment où ils servent, pas dès l'arrivée.",
            "Switch ovens and warmers on when they are needed, not on arrival.",
        ),
        (
            "Un robinet d'eau chaude qui goutte, c'est de l'eau et de l'énergie perdues.",
            "A dripping hot-water tap wastes both water and energy.",
        ),
        (
            "Dégivrez et fermez bien les chambres froides : un joint usé fait tourner le "
            "compresseur sans arrêt.",
            "Defrost and close cold rooms well: a worn seal keeps the compressor running.",
        ),
    ),
    "hall": (
        (
            "Après une manifestation, vérifiez que chauffage et éclairage sont coupés : la "
            "salle reste fermée jusqu'à la prochaine réservation.",
            "After an event, check that heating and lights are off: the hall stays closed "
            "until the next booking.",
        ),
        (
            "Le chauffage se programme selon les réservations : prévenez la mairie d'un "
            "changement d'horaire.",
            "Heating follows the bookings: tell the mairie when a booking changes.",
        ),
        (
            "Portes extérieures fermées pendant les événements : l'air chaud s'en va vite.",
            "Keep outside doors closed during events: warm air escapes fast.",
        ),
    ),
    "library": (
        (
            "Mettez les postes publics en veille à la fermeture.",
            "Put public computers to sleep at closing time.",
        ),
        (
            "Éclairage naturel d'abord : ouvrez les stores avant d'allumer.",
            "Daylight first: open the blinds before switching lights on.",
        ),
        (
            "19 °C dans les espaces de lecture, c'est le confort recommandé.",
            "19 °C in reading areas is the recommended comfort.",
        ),
    ),
    "sports": (
        (
            "Éteignez l'éclairage du terrain dès la fin de l'entraînement.",
            "Switch the pitch lighting off as soon as training ends.",
        ),
        (
            "Douches : quelques minutes suffisent, l'eau chaude est la moitié de la facture.",
            "Showers: a few minutes are enough, hot water is half of the bill.",
        ),
        (
            "Un gymnase n'a pas besoin d'être chauffé comme un bureau : 14 à 16 °C suffisent.",
            "A gym does not need office heating: 14 to 16 °C is enough.",
        ),
    ),
    "workshop": (
        (
            "Coupez compresseurs et machines à la pause et le soir : à vide, ils consomment.",
            "Switch compressors and machines off at breaks and at night: idle, they consume.",
        ),
        (
            "Portes de l'atelier fermées quand le chauffage tourne.",
            "Keep workshop doors closed while the heating runs.",
        ),
        (
            "Une fuite d'air comprimé s'entend : signalez-la, elle coûte toute l'année.",
            "A compressed-air leak can be heard: report it, it costs all year round.",
        ),
    ),
}
_TIPS["office"] = _TIPS["default"]


def tips(usage: str, t: Translator) -> list[str]:
    """Good-habit tips for a building's usage (office, school, hall...), in the chosen language."""
    return [t(fr, en) for fr, en in _TIPS.get(usage, _TIPS["default"])]
