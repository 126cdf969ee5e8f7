"""Words, numbers, dates and good-habit tips in French (the default) and English.

The screens hang in French public buildings, so French typography matters for readability:
decimal comma, a narrow no-break space between thousands and before ``%``, a real minus sign.
No locale database is needed (the machine may have none): the few names are written here.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Final

from lorawatch.core.formats import LANGS, MINUS, MONTHS, NNBSP, Lang, number, percent

__all__ = [
    "LANGS",
    "MINUS",
    "NNBSP",
    "TEXT",
    "TIPS",
    "Lang",
    "clock",
    "heating_season",
    "long_date",
    "number",
    "percent",
    "short_day",
    "text",
    "tip",
]

_DAYS: Final[dict[str, tuple[str, ...]]] = {
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_SHORT_DAYS: Final[dict[str, tuple[str, ...]]] = {
    "fr": ("lun", "mar", "mer", "jeu", "ven", "sam", "dim"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}

TEXT: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "today": "Aujourd'hui",
        "this_week": "Cette semaine",
        "since": "Depuis le {date}",
        "campaign_since": "Campagne depuis le {date}",
        "measured_since": "mesurés depuis le {date}",
        "vs_typical_day": "par rapport à un jour type",
        "typical_so_far": "un jour type à cette heure : {value}",
        "last_week_so_far": "la semaine dernière à cette heure : {value}",
        "vs_last_week": "par rapport à la semaine dernière",
        "vs_typical_week": "par rapport à une semaine type",
        "typical_week_so_far": "une semaine type à cette heure : {value}",
        "vs_before": "par rapport à l'année d'avant",
        "saved": "{value} économisés",
        "overspent": "{value} de plus",
        "consumed_in": "consommés en {days} jours",
        "no_reference": "la comparaison viendra avec plus de mesures",
        "no_campaign": "Pas de campagne en cours",
        "learning": "jour type en cours d'apprentissage",
        "same": "comme d'habitude",
        "water_today": "Eau aujourd'hui\u00a0:",
        "litres": "litres",
        "tip": "Le bon geste",
        "updated": "Mis à jour à {time}",
        "stale": "Mesures en attente depuis {time}",
        "no_data": "Pas encore de mesure",
        "typical": "jour type",
        "now": "maintenant",
        "building_totals": "Totaux du bâtiment",
        "open": "ouvert",
        "closed": "fermé",
    },
    "en": {
        "today": "Today",
        "this_week": "This week",
        "since": "Since {date}",
        "campaign_since": "Campaign since {date}",
        "measured_since": "measured since {date}",
        "vs_typical_day": "compared with a typical day",
        "typical_so_far": "a typical day by this time: {value}",
        "last_week_so_far": "last week by this time: {value}",
        "vs_last_week": "compared with last week",
        "vs_typical_week": "compared with a typical week",
        "typical_week_so_far": "a typical week by this time: {value}",
        "vs_before": "compared with the year before",
        "saved": "{value} saved",
        "overspent": "{value} more",
        "consumed_in": "used in {days} days",
        "no_reference": "the comparison comes with more data",
        "no_campaign": "No campaign under way",
        "learning": "learning what a typical day is",
        "same": "as usual",
        "water_today": "Water today:",
        "litres": "litres",
        "tip": "Good habit",
        "updated": "Updated at {time}",
        "stale": "Waiting for data since {time}",
        "no_data": "No data yet",
        "typical": "typical day",
        "now": "now",
        "building_totals": "Building totals",
        "open": "open",
        "closed": "closed",
    },
}

# Good habits by building usage; "any" suits every building, "heating" the heating season.
TIPS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "fr": {
        "any": (
            "Dernier à partir ? Éteignez les lumières et les écrans de la pièce.",
            "Un appareil en veille consomme toute la nuit : coupez la multiprise le soir.",
            "Un robinet qui goutte, c'est jusqu'à 35 000 litres par an : signalez-le.",
            "La lumière du jour est gratuite : ouvrez les stores avant d'allumer.",
            "Une chasse d'eau qui coule : prévenez l'accueil, elle gaspille 25 litres par heure.",
        ),
        "heating": (
            "19 °C suffisent : chaque degré de moins, c'est 7 % d'énergie économisée.",
            "Aérez 5 minutes, fenêtres grandes ouvertes, puis refermez : pas d'entrebâillement.",
            "Portes fermées, la chaleur reste dans les salles.",
            "Ne couvrez pas les radiateurs : la chaleur doit circuler.",
        ),
        "school": (
            "En fin de journée, éteignez le vidéoprojecteur et l'ordinateur de la classe.",
            "Les enfants aussi peuvent être « gardiens de la lumière » de leur classe.",
        ),
        "canteen": (
            "Fermez bien les portes des chambres froides et des réfrigérateurs.",
            "Lancez le lave-vaisselle bien rempli.",
        ),
        "office": (
            "Éteignez l'écran pendant les réunions et la pause déjeuner.",
            "Imprimez moins, en recto verso, et éteignez l'imprimante le soir.",
        ),
        "hall": (
            "Après votre activité, vérifiez que le chauffage revient en mode réduit.",
            "Éteignez la sono et l'éclairage de scène en partant.",
        ),
        "sports": (
            "Des douches courtes : 4 minutes suffisent.",
            "Éteignez l'éclairage du terrain dès la fin de l'entraînement.",
        ),
        "library": (
            "Les postes en libre accès s'éteignent à la fermeture : pensez-y.",
            "Un éclairage de lecture suffit souvent : n'allumez pas toute la salle.",
        ),
        "workshop": (
            "Coupez les compresseurs et les machines à la fin du poste.",
            "Une fuite d'air comprimé coûte cher : signalez-la.",
        ),
    },
    "en": {
        "any": (
            "Last to leave? Switch off the lights and screens.",
            "Stand-by runs all night: switch the power strip off in the evening.",
            "A dripping tap wastes up to 35,000 litres a year: report it.",
            "Daylight is free: open the blinds before switching the lights on.",
            "A running toilet wastes 25 litres an hour: tell the front desk.",
        ),
        "heating": (
            "19 °C is enough: each degree less saves 7 % of the energy.",
            "Air rooms for 5 minutes, windows wide open, then close them.",
            "Keep doors closed: the heat stays in the rooms.",
            "Do not cover the radiators: heat needs to flow.",
        ),
        "school": ("Switch off the projector and the class computer at the end of the day.",),
        "canteen": ("Keep cold-room and fridge doors firmly closed.",),
        "office": ("Switch the screen off during meetings and lunch.",),
        "hall": ("After your activity, check the heating goes back to its reduced mode.",),
        "sports": ("Short showers: 4 minutes are enough.",),
        "library": ("Switch off the public computers at closing time.",),
        "workshop": ("Switch compressors and machines off at the end of the shift.",),
    },
}


def text(lang: Lang, key: str, **values: object) -> str:
    template = TEXT[lang].get(key) or TEXT["en"][key]
    return template.format(**values) if values else template


def long_date(day: date, lang: Lang, weekday: bool = False) -> str:
    if lang == "fr":
        first = "1er" if day.day == 1 else str(day.day)
        out = f"{first} {MONTHS['fr'][day.month - 1]} {day.year}"
        return f"{_DAYS['fr'][day.weekday()]} {out}" if weekday else out
    out = f"{day.day} {MONTHS['en'][day.month - 1]} {day.year}"
    return f"{_DAYS['en'][day.weekday()]} {out}" if weekday else out


def short_day(day: date, lang: Lang) -> str:
    return f"{_SHORT_DAYS[lang][day.weekday()]} {day.day}"


def clock(t: datetime, lang: Lang) -> str:
    return f"{t:%H:%M}" if lang == "en" else f"{t:%H} h {t:%M}"


def heating_season(day: date) -> bool:
    """October to April: when heating is on in Brittany's public buildings."""
    return day.month >= 10 or day.month <= 4


def tip(lang: Lang, usage: str, building: str, at: datetime) -> str:
    """A tip that changes every hour, different from one building to the next."""
    tips = TIPS[lang]
    pool = list(tips.get(usage, ())) + list(tips["any"])
    if heating_season(at.date()):
        pool += list(tips["heating"])
    seed = int(hashlib.sha256(building.encode()).hexdigest()[:8], 16)
    hour = at.toordinal() * 24 + at.hour
    return pool[(seed + hour) % len(pool)]
