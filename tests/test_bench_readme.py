"""The README's benchmark table comes from the runs' JSON files, each row naming its run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import readme, report


def _run(path: Path, bench: str, figure: str) -> None:
    ctx = report.context()
    report.write(
        path / f"{bench}.json",
        bench,
        ctx,
        {"batch_interval_ms_applied": 300},
        {"x": 1},
        [{"benchmark": f"`{bench}`", "figure": figure, "baseline": "b | c", "ratio": "0.5"}],
    )


def test_every_row_names_its_run_and_machine(tmp_path: Path) -> None:
    _run(tmp_path, "store", "40 readings/s")
    _run(tmp_path, "decode", "2 µs")
    lines = readme.table(tmp_path).splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| `decode` |")  # the documented order, not the file names'
    stored = json.loads((tmp_path / "store.json").read_text())
    assert stored["run"].startswith("store ") and stored["machine"]["cores"] >= 1
    assert f"[{stored['run']}](bench/results/store.json)" in lines[3]
    assert "b \\| c" in lines[3]


def test_render_replaces_only_the_generated_section(tmp_path: Path) -> None:
    text = f"# T\n\nbefore\n{readme.BEGIN}\nold row\n{readme.END}\nafter\n"
    out = readme.render(text, "| new |")
    assert out == f"# T\n\nbefore\n{readme.BEGIN}\n| new |\n{readme.END}\nafter\n"
    with pytest.raises(SystemExit):
        readme.render("no markers", "| new |")


def test_check_fails_when_the_readme_is_stale(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text(f"{readme.BEGIN}\n| stale |\n{readme.END}\n")
    assert readme.main(["--check", "--readme", str(page)]) == 1
    assert readme.main(["--readme", str(page)]) == 0
    assert readme.main(["--check", "--readme", str(page)]) == 0
