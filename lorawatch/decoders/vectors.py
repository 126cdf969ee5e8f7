"""Example vectors: a decoder's published and own test frames, in a YAML file beside it.

The shape follows TTN's device repository (``examples[]`` with input and expected output),
plus the canonical readings the frame must normalise to::

    decoder: milesight-em300-di
    examples:
      - description: periodic report
        source: Milesight SensorDecoders em300-di README (2024)
        input: {fPort: 85, bytes: "01755c 03673401", recvTime: "2026-01-14T09:26:53Z"}
        params: {pulses_per_kwh: 1000}
        output: {data: {battery: 92, temperature: 30.8}, warnings: [], errors: []}
        readings:
          - {name: battery_pct, value: 92}

``warnings``/``errors`` entries match when contained in the actual message (same count).
Readings match as a set on (name, channel, time), values to 1e-6 relative. The file is read
with a YAML 1.2 loader, so ``on``/``off`` and ``00012074`` stay strings.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lorawatch.core.errors import InventoryError
from lorawatch.decoders import registry
from lorawatch.decoders.base import Decoder, Uplink, readings_of
from lorawatch.decoders.repository import (
    RepositoryError,
    f_port_of,
    payload_of,
    read_yaml,
    yaml_loader,
)
from lorawatch.decoders.repository import same as _same

DEFAULT_RECV_TIME = datetime(2026, 1, 14, 9, 26, 53, tzinfo=UTC)


@dataclass(slots=True)
class Example:
    file: Path
    index: int
    decoder: str
    description: str
    raw: Mapping[str, Any]

    @property
    def id(self) -> str:
        return f"{self.file.stem}[{self.index}] {self.description}"


@dataclass(slots=True)
class Outcome:
    example: Example
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def load(path: Path) -> list[Example]:
    """The examples of one vectors file; raises InventoryError on a malformed file."""
    try:
        doc = read_yaml(path)
    except RepositoryError as exc:
        raise InventoryError([(str(path), str(exc).removeprefix(f"{path}: "))]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("examples"), list):
        raise InventoryError([(str(path), "a vectors file needs 'decoder' and 'examples' keys")])
    decoder = str(doc.get("decoder", ""))
    out = []
    for i, raw in enumerate(doc["examples"]):
        if not isinstance(raw, dict) or "input" not in raw:
            raise InventoryError([(f"{path}:examples[{i}]", "an example needs an 'input' mapping")])
        out.append(
            Example(path, i, str(raw.get("decoder", decoder)), str(raw.get("description", "")), raw)
        )
    return out


def files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    yield from sorted(p for p in root.rglob("*.yaml") if p.is_file())


def builtin_files() -> list[Path]:
    # lazy: the device modules load only when vectors are listed
    from lorawatch.decoders import devices

    return sorted(Path(devices.__file__).parent.glob("*.yaml"))


def plugin_files() -> list[Path]:
    """Vector files shipped beside plugin decoders: the YAML files in each plugin module's
    folder that name one of its decoders (``decoder:`` key)."""
    folders = {
        Path(module.__file__).parent
        for cls in registry.classes()
        if not registry.is_builtin(cls)
        and (module := sys.modules.get(cls.__module__)) is not None
        and module.__file__
    }
    plugin_names = {cls.name for cls in registry.classes() if not registry.is_builtin(cls)}
    found: list[Path] = []
    for folder in sorted(folders):
        for path in sorted(folder.glob("*.yaml")):
            try:
                doc = yaml_loader().load(path.read_text(encoding="utf-8"))
            except Exception:  # noqa: BLE001, S112 - not a vectors file; nothing to run
                continue
            if isinstance(doc, dict) and str(doc.get("decoder", "")) in plugin_names:
                found.append(path)
    return found


def _time(text: object, default: datetime) -> datetime:
    if text is None:
        return default
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _messages(kind: str, expected: list[str], actual: list[str]) -> list[str]:
    if len(expected) != len(actual) or not all(
        e in a for e, a in zip(expected, actual, strict=False)
    ):
        return [f"{kind}: expected {expected}, got {actual}"]
    return []


def run(example: Example, decoder: Decoder | None = None) -> Outcome:
    """Decode one example and compare everything it states."""
    outcome = Outcome(example)
    try:
        decoder = decoder or registry.get(example.decoder)
    except InventoryError as exc:
        outcome.problems.append(str(exc))
        return outcome
    raw = example.raw
    inp = raw["input"]
    try:
        recv = _time(inp.get("recvTime"), DEFAULT_RECV_TIME)
        payload = payload_of(inp.get("bytes"))
        f_port = f_port_of(inp.get("fPort", 1), range(256))
        variables = inp.get("variables") or {}
        if not isinstance(variables, dict):
            raise ValueError("variables: must be a mapping")
    except ValueError as exc:
        outcome.problems.append(f"input: {exc}")
        return outcome
    uplink = Uplink(payload, f_port, recv, {str(k): str(v) for k, v in variables.items()})
    result = decoder.decode_uplink(uplink)
    params, problems = decoder.resolve_params(raw.get("params") or {})
    outcome.problems.extend(map(str, problems))
    readings = readings_of(decoder, result, params, recv)

    expected = raw.get("output") or {}
    if "data" in expected and not _same(expected["data"], result.data):
        outcome.problems.append(f"data: expected {expected['data']}, got {result.data}")
    outcome.problems += _messages("errors", list(expected.get("errors") or []), result.errors)
    outcome.problems += _messages("warnings", list(expected.get("warnings") or []), result.warnings)

    want = raw.get("readings")
    if want is None:
        if result.ok:
            outcome.problems.append("readings: the example must list its expected readings")
        return outcome
    got = {(r.name, r.channel, r.time): r.value for r in readings}
    seen: set[tuple[str, str, datetime]] = set()
    for item in want:
        key = (str(item["name"]), str(item.get("channel", "")), _time(item.get("time"), recv))
        seen.add(key)
        if key not in got:
            outcome.problems.append(f"readings: missing {key[0]} channel={key[1]!r} at {key[2]}")
        elif not _same(item["value"], got[key]):
            outcome.problems.append(f"readings: {key[0]} expected {item['value']}, got {got[key]}")
    for key in got.keys() - seen:
        outcome.problems.append(
            f"readings: unexpected {key[0]}={got[key]} channel={key[1]!r} at {key[2]}"
        )
    return outcome


def verify(root: Path) -> list[Outcome]:
    return [run(example) for path in files(root) for example in load(path)]
