"""The worked example of docs/decoders.md runs: its decoder passes its vectors."""

from __future__ import annotations

import re
import types
from pathlib import Path

from lorawatch.decoders import registry, vectors

DOC = Path(__file__).resolve().parents[1] / "docs" / "decoders.md"


def test_worked_example_decoder_passes_its_vectors(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    code = re.search(r"```python\n(# lorawatch/decoders/devices/acme_pulse2.py.*?)```", text, re.S)
    vectors_yaml = re.search(r"```yaml\n(decoder: acme-pulse2.*?)```", text, re.S)
    assert code and vectors_yaml, "the worked example is missing from docs/decoders.md"
    module = types.ModuleType("acme_pulse2_doc_example")
    try:
        exec(compile(code.group(1), str(DOC), "exec"), module.__dict__)
        path = tmp_path / "acme_pulse2.yaml"
        path.write_text(vectors_yaml.group(1))
        outcomes = vectors.verify(path)
        assert len(outcomes) == 2
        for outcome in outcomes:
            assert outcome.ok, outcome.problems
    finally:
        registry._classes.pop("acme-pulse2", None)
        registry._instances.pop("acme-pulse2", None)
