"""Run every benchmark, one after the other: `python -m bench` (or `python -m bench decode ingest`).

Each prints its own figures and a ratio against a baseline measured in the same run (machines
are noisy: compare ratios, not absolute times) and writes them with the run's commit, machine,
date and settings to ``bench/results/<bench>.json``. ``python -m bench readme`` then generates
the README's table from those files.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from bench import BENCHES

ALL = BENCHES


def main() -> int:
    if sys.argv[1:2] == ["readme"]:
        from bench import readme

        return readme.main(sys.argv[2:])
    chosen = sys.argv[1:] or list(ALL)
    failed = []
    for name in chosen:
        if importlib.util.find_spec(f"bench.{name}") is None:
            print(f"== {name}: not available")
            continue
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
