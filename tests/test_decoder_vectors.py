"""Every example vector of every decoder, one parametrised test (data-driven).

Built-in decoders must all have vectors; an installed plugin's vectors, shipped beside its
module, are run too, and a plugin without any does not fail lorawatch's own suite.
"""

from __future__ import annotations

import pytest

from lorawatch.decoders import names, registry, vectors

FILES = vectors.builtin_files() + vectors.plugin_files()
EXAMPLES = [ex for path in FILES for ex in vectors.load(path)]


def test_every_decoder_has_vectors() -> None:
    covered = {ex.decoder for ex in EXAMPLES}
    builtin = [name for name in names() if registry.is_builtin(type(registry.get(name)))]
    missing = [name for name in builtin if name not in covered and name != "js"]
    assert not missing, f"decoders without example vectors: {missing}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[ex.id for ex in EXAMPLES])
def test_vector(example: vectors.Example) -> None:
    outcome = vectors.run(example)
    assert outcome.ok, "\n".join(outcome.problems)


def test_every_vector_file_names_a_registered_decoder() -> None:
    for ex in EXAMPLES:
        registry.get(ex.decoder)
