"""Charts as inline SVG drawn on the server: no script, no library, nothing to download.

Colours come from classes styled by ``static/lorawatch.css`` (the content security policy
allows no inline style). Every chart has a ``<title>`` and ``role="img"`` so that a screen
reader says what it shows, and labels are escaped like any other text of the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None
    reference: float | None = None
    """A tick across the bar: the baseline (typical value) of that period."""
    marker: float | None = None
    """A dot: last year's value of that period."""
    shaded: bool = False
    """Drawn lighter (a weekend, a period not over yet)."""


def nice_max(value: float) -> float:
    """The next 1, 2, 2.5 or 5 times a power of ten: axes with round graduations."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * power:
            return step * power
    return 10.0 * power


def _f(x: float) -> str:
    return f"{x:.1f}"


def _tick_label(value: float, step: float, decimal: str = ".") -> str:
    """As many decimals as the graduation step needs (2.5 stays 2.5), and no more."""
    if value == 0:
        return "0"
    digits = next((d for d in range(4) if abs(round(step, d) - step) < 1e-9), 3)
    return f"{value:.{digits}f}".replace(".", decimal)


def _axis(
    top: float,
    width: float,
    height: float,
    left: float,
    pad_top: float,
    unit: str,
    decimal: str = ".",
) -> list[str]:
    parts = []
    for i in range(5):
        value = top * i / 4
        y = pad_top + height - height * i / 4
        parts.append(
            f'<line class="grid" x1="{_f(left)}" x2="{_f(left + width)}" y1="{_f(y)}" y2="{_f(y)}"/>'
        )
        label = _tick_label(value, top / 4, decimal)
        parts.append(
            f'<text class="tick" x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end">{escape(label)}</text>'
        )
    parts.append(
        f'<text class="tick unit" x="{_f(left + 4)}" y="{_f(pad_top - 8)}">{escape(unit)}</text>'
    )
    return parts


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    unit: str,
    width: int = 900,
    height: int = 260,
    label_every: int = 1,
    css: str = "chart",
    decimal: str = ".",
    margins: tuple[float, float, float] = (56.0, 24.0, 28.0),
) -> Markup:
    """Bars with an optional baseline tick and last-year dot per bar.

    ``margins`` (left, top, bottom) leave room for the axis labels: larger for the hall
    screens, whose labels are drawn larger to stay readable from afar.
    """
    left, pad_top, bottom = margins
    right = 10.0
    plot_w, plot_h = width - left - right, height - pad_top - bottom
    values = [v for b in bars for v in (b.value, b.reference, b.marker) if v is not None]
    top = nice_max(max(values, default=0.0))
    parts = [
        f'<svg class="{escape(css)}" viewBox="0 0 {width} {height}" role="img" '
        f'preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>',
        *_axis(top, plot_w, plot_h, left, pad_top, unit, decimal),
    ]
    n = max(len(bars), 1)
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.7)

    def y(v: float) -> float:
        return pad_top + plot_h - plot_h * v / top

    for i, b in enumerate(bars):
        x = left + i * slot + (slot - bar_w) / 2
        if b.value is not None:
            over = b.reference is not None and b.value > b.reference * 1.05
            kind = "bar over" if over else "bar"
            if b.shaded:
                kind += " shaded"
            tip = f"{b.label}: {b.value:.2f} {unit}"
            parts.append(
                f'<rect class="{kind}" x="{_f(x)}" y="{_f(y(b.value))}" width="{_f(bar_w)}" '
                f'height="{_f(pad_top + plot_h - y(b.value))}"><title>{escape(tip)}</title></rect>'
            )
        if b.reference is not None:
            parts.append(
                f'<line class="reference" x1="{_f(x - 2)}" x2="{_f(x + bar_w + 2)}" '
                f'y1="{_f(y(b.reference))}" y2="{_f(y(b.reference))}"/>'
            )
        if b.marker is not None:
            parts.append(
                f'<circle class="marker" cx="{_f(x + bar_w / 2)}" cy="{_f(y(b.marker))}" r="3"/>'
            )
        if label_every and i % label_every == 0:
            parts.append(
                f'<text class="tick" x="{_f(x + bar_w / 2)}" y="{_f(height - 8 - (bottom - 28) / 2)}" '
                f'text-anchor="middle">{escape(b.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()


def line_chart(
    values: Sequence[float | None],
    references: Sequence[float | None],
    labels: Sequence[str],
    *,
    title: str,
    unit: str,
    width: int = 900,
    height: int = 260,
    label_every: int = 24,
    css: str = "chart",
    decimal: str = ".",
) -> Markup:
    """A load curve (one point per hour) over its baseline, broken where data is missing."""
    left, right, pad_top, bottom = 56.0, 10.0, 24.0, 28.0
    plot_w, plot_h = width - left - right, height - pad_top - bottom
    every = [v for v in (*values, *references) if v is not None]
    top = nice_max(max(every, default=0.0))
    n = max(len(values), 2)

    def xy(i: int, v: float) -> str:
        return f"{_f(left + plot_w * i / (n - 1))},{_f(pad_top + plot_h - plot_h * v / top)}"

    def runs(series: Sequence[float | None]) -> list[str]:
        out: list[str] = []
        current: list[str] = []
        for i, v in enumerate(series):
            if v is None:
                if current:
                    out.append(" ".join(current))
                current = []
            else:
                current.append(xy(i, v))
        if current:
            out.append(" ".join(current))
        return out

    parts = [
        f'<svg class="{escape(css)}" viewBox="0 0 {width} {height}" role="img" '
        f'preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>',
        *_axis(top, plot_w, plot_h, left, pad_top, unit, decimal),
    ]
    parts += [f'<polyline class="reference-line" points="{p}"/>' for p in runs(references)]
    parts += [f'<polyline class="curve" points="{p}"/>' for p in runs(values)]
    for i, label in enumerate(labels):
        if label and i % label_every == 0:
            parts.append(
                f'<text class="tick" x="{_f(left + plot_w * i / (n - 1))}" y="{_f(height - 8)}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()
