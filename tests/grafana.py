"""What Grafana does to a panel's InfluxQL before sending it, so tests can run the same query.

A dashboard's queries are only proven by running them: this module reproduces, for a fixed
"now", the steps Grafana takes for a raw InfluxQL target:

1. the panel's time range: the dashboard's (``now-7d``...), replaced by the panel's relative
   time (``timeFrom``: ``now/d`` is today so far, ``28d`` the last 28 days) and moved back by
   its time shift (``timeShift``: ``1w``, ``52w``), with Grafana's date math (``now/w`` rounds
   down to Monday, the dashboards' ``weekStart``, in the dashboard's time zone);
2. the interval: range / maxDataPoints rounded to Grafana's steps, never below the panel's
   minimum interval;
3. template variables (``$building``), global ``${__from}`` / ``${__to}`` (ms epoch), then
   ``$timeFilter`` (``time >= <from>ms and time <= <to>ms``), ``$interval``, ``$__interval_ms``
   and ``$__interval``, in the order Grafana's InfluxDB query builder replaces them;
4. server-side expressions (reduce, math) over the results, for panels that use them.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Grafana's rounding of a computed interval (ms): upper bound -> interval.
_ROUNDING = [
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1500, 1000),
    (3500, 2000),
    (7500, 5000),
    (12500, 10000),
    (17500, 15000),
    (25000, 20000),
    (45000, 30000),
    (90000, 60000),
    (210000, 120000),
    (450000, 300000),
    (750000, 600000),
    (1050000, 900000),
    (1500000, 1200000),
    (2700000, 1800000),
    (5400000, 3600000),
    (9000000, 7200000),
    (16200000, 10800000),
    (24300000, 21600000),
    (64800000, 43200000),
    (129600000, 86400000),
    (604800000, 604800000),
]


def _round_down(t: datetime, unit: str) -> datetime:
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return day
    if unit == "w":
        return day - timedelta(days=day.weekday())  # weekStart: monday
    if unit == "M":
        return day.replace(day=1)
    if unit == "y":
        return day.replace(month=1, day=1)
    if unit == "h":
        return t.replace(minute=0, second=0, microsecond=0)
    raise ValueError(f"rounding to {unit!r} not modelled")


def _round_up(t: datetime, unit: str) -> datetime:
    start = _round_down(t, unit)
    if unit == "M":
        nxt = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    elif unit == "y":
        nxt = start.replace(year=start.year + 1)
    else:
        nxt = start + timedelta(seconds=_UNITS[unit])
    return nxt - timedelta(milliseconds=1)


def date_math(expr: str, now: datetime, round_up: bool = False) -> datetime:
    """Grafana's date math on ``now``: ``now``, ``now-7d``, ``now/d``, ``now-1d/d``..."""
    if not expr.startswith("now"):
        raise ValueError(f"absolute times not modelled: {expr!r}")
    return apply_math(expr[3:], now, round_up)


def apply_math(ops: str, t: datetime, round_up: bool = False) -> datetime:
    for sign, amount, unit in re.findall(r"([+-/])(\d*)([smhdwMy])", ops):
        if sign == "/":
            t = _round_up(t, unit) if round_up else _round_down(t, unit)
        elif unit == "M":
            months = t.month - 1 + (int(amount) if sign == "+" else -int(amount))
            t = t.replace(year=t.year + months // 12, month=months % 12 + 1)
        elif unit == "y":
            t = t.replace(year=t.year + (int(amount) if sign == "+" else -int(amount)))
        else:
            delta = timedelta(seconds=int(amount or 1) * _UNITS[unit])
            t = t + delta if sign == "+" else t - delta
    return t


def panel_range(
    dashboard: Mapping[str, Any], panel: Mapping[str, Any], now: datetime
) -> tuple[datetime, datetime]:
    """The time range Grafana queries a panel with."""
    local_now = now.astimezone(ZoneInfo(dashboard["timezone"]))
    raw_from, raw_to = dashboard["time"]["from"], dashboard["time"]["to"]
    if panel.get("timeFrom"):
        relative = panel["timeFrom"]
        raw_from = relative if "now" in relative else f"now-{relative}"
        raw_to = "now"
    start = date_math(raw_from, local_now)
    end = date_math(raw_to, local_now, round_up=True)
    if panel.get("timeShift"):
        shift = "-" + panel["timeShift"]
        start, end = apply_math(shift, start), apply_math(shift, end, round_up=True)
    return start, end


def interval_ms(start: datetime, end: datetime, max_points: int, minimum: str | None) -> int:
    span = (end - start).total_seconds() * 1000 / max(1, max_points)
    rounded = next((value for bound, value in _ROUNDING if span < bound), 31536000000)
    if minimum:
        low = int(minimum[:-1]) * _UNITS[minimum[-1]] * 1000
        rounded = max(rounded, low)
    return rounded


def interval_text(ms: int) -> str:
    seconds = ms // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{ms}ms"


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def interpolate(
    query: str,
    start: datetime,
    end: datetime,
    step_ms: int,
    variables: Mapping[str, str] | None = None,
) -> str:
    for name, value in (variables or {}).items():
        query = query.replace("${" + name + "}", value)
        query = re.sub(r"\$" + re.escape(name) + r"\b", value, query)
    query = query.replace("${__from}", str(_ms(start))).replace("${__to}", str(_ms(end)))
    text = interval_text(step_ms)
    query = query.replace("$timeFilter", f"time >= {_ms(start)}ms and time <= {_ms(end)}ms")
    query = query.replace("$interval", text)
    query = query.replace("$__interval_ms", str(step_ms))
    return query.replace("$__interval", text)


@dataclass(frozen=True)
class Query:
    """One InfluxQL target of one panel, as Grafana would send it."""

    dashboard: str
    panel: str
    ref: str
    influxql: str
    variables: Mapping[str, str]

    @property
    def name(self) -> str:
        suffix = ",".join(f"{k}={v}" for k, v in self.variables.items())
        return f"{self.dashboard} / {self.panel} / {self.ref}" + (f" [{suffix}]" if suffix else "")


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", []) or []


def variable_choices(dashboard: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every combination of the dashboard's custom variables (one per option)."""
    combos: list[dict[str, str]] = [{}]
    for variable in dashboard.get("templating", {}).get("list", []):
        values = [o["value"] for o in variable.get("options", [])] or [variable["current"]["value"]]
        combos = [{**c, variable["name"]: v} for c in combos for v in values]
    return combos


def is_influxql(target: Mapping[str, Any]) -> bool:
    return (target.get("datasource") or {}).get("type") == "influxdb"


def queries(dashboard: Mapping[str, Any], now: datetime, all_options: bool = True) -> list[Query]:
    out = []
    choices = variable_choices(dashboard) if all_options else variable_choices(dashboard)[:1]
    for panel in panels(dashboard):
        start, end = panel_range(dashboard, panel, now)
        step = interval_ms(start, end, panel.get("maxDataPoints") or 1000, panel.get("interval"))
        for target in panel.get("targets", []):
            if not is_influxql(target):
                continue
            uses_vars = any("$" + name in target["query"] for name in choices[0])
            for variables in choices if uses_vars else [{}]:
                out.append(
                    Query(
                        dashboard["uid"],
                        panel["title"],
                        target["refId"],
                        interpolate(target["query"], start, end, step, variables),
                        variables,
                    )
                )
    return out


_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def math(expression: str, values: Mapping[str, float]) -> float:
    """Grafana's Math expression over reduced numbers (``($C / $D - 1) * 100``)."""
    text = re.sub(r"\$([A-Z]+)", lambda m: repr(values[m.group(1)]), expression)

    def run(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return run(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](run(node.left), run(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -run(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        raise ValueError(f"unsupported expression {expression!r}")

    return run(ast.parse(text, mode="eval"))
