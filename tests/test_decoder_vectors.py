"""Every example vector of every built-in decoder, one parametrised test (data-driven)."""

from __future__ import annotations

import pytest

from lorawatch.decoders import names, registry, vectors

EXAMPLES = [ex for path in vectors.builtin_files() for ex in vectors.load(path)]


def test_every_decoder_has_vectors() -> None:
    covered = {ex.decoder for ex in EXAMPLES}
    missing = [name for name in names() if name not in covered and name != "js"]
    assert not missing, f"decoders without example vectors: {missing}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[ex.id for ex in EXAMPLES])
def test_vector(example: vectors.Example) -> None:
    outcome = vectors.run(example)
    assert outcome.ok, "\n".join(outcome.problems)


def test_every_vector_file_names_a_registered_decoder() -> None:
    for ex in EXAMPLES:
        registry.get(ex.decoder)
