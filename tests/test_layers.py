"""The package's parts import only down the layers of docs/architecture.md, and nothing hides a
cycle behind a function-local import.

Every import of a lorawatch module counts, at module level or inside a function; imports under
``if TYPE_CHECKING:`` are left out (they never run). A new part must be placed in ``LAYERS``
(and in docs/architecture.md) before it can import or be imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "lorawatch"

# Bottom to top. A part may import its own modules and any part on a lower layer.
LAYERS: list[set[str]] = [
    {"core"},
    {"decoders"},
    {"inventory"},
    {"gateway_bridge"},
    {"pipeline"},
    {"stores"},
    {"analytics"},
    {"alerts", "simulators"},
    {"dashboards"},
    {"web"},
    {"app"},
    {"__main__"},
]
LEVEL = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def part_of(path: Path) -> str:
    rel = path.relative_to(ROOT).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                hidden.update(id(n) for n in ast.walk(sub))
    return hidden


def imported_parts(path: Path) -> list[tuple[int, str, bool]]:
    """(line, part, inside a function) for every lorawatch import that runs."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = type_checking_nodes(tree)
    local: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            local.update(id(n) for n in ast.walk(fn))
    out = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(path.relative_to(ROOT.parent).with_suffix("").parts[: -node.level])
                names = [".".join([*base, *([node.module] if node.module else [])])]
            elif node.module:
                names = [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            bits = name.split(".")
            if bits[0] == "lorawatch" and len(bits) > 1 and bits[1] != "__version__":
                out.append((node.lineno, bits[1], id(node) in local))
    return out


def modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if p.relative_to(ROOT).parts[0] != "__init__.py")


def test_every_part_has_a_layer() -> None:
    parts = {part_of(p) for p in modules()}
    assert parts - LEVEL.keys() == set(), "place new parts in LAYERS and docs/architecture.md"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_down(path: Path) -> None:
    src = part_of(path)
    upward = [
        f"line {line}: {src} imports {dst}"
        for line, dst, _ in imported_parts(path)
        if dst != src and dst in LEVEL and LEVEL[dst] >= LEVEL[src]
    ]
    assert upward == []


def test_no_cycles_between_parts() -> None:
    edges: dict[str, set[str]] = {}
    for path in modules():
        src = part_of(path)
        for _, dst, _ in imported_parts(path):
            if dst != src:
                edges.setdefault(src, set()).add(dst)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [p for p in edges if reaches(p, p, {p})] == []


def test_function_local_imports_say_why() -> None:
    """A function-local import is for start-up time only, and the comment above it says so."""
    silent = []
    for path in modules():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        hidden = type_checking_nodes(tree)
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in hidden:
                    continue
                i = node.lineno - 2
                while i >= 0 and lines[i].strip().startswith(("import ", "from ", ")")):
                    i -= 1
                if not (i >= 0 and lines[i].strip().startswith("#")):
                    silent.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert silent == []


def test_long_modules_say_why() -> None:
    """A module past ~800 lines is split by job, or its docstring says why it is one module."""
    unexplained = []
    for path in modules():
        text = path.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > 800 and "One module on purpose" not in doc:
            unexplained.append(str(path.relative_to(ROOT)))
    assert unexplained == []
