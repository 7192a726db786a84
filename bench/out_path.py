"""Where a benchmark writes its JSON, checked before anything is measured: ``--out`` names a
file, or a directory the benchmark writes its own ``<name>.json`` into."""

from __future__ import annotations

import argparse
from pathlib import Path


def out_file(parser: argparse.ArgumentParser, out: Path, name: str) -> Path:
    """``out`` as the file to write; a directory means ``DIR/<name>.json``. A path under a
    file stops the run at once (not after minutes of measuring)."""
    if out.is_dir():
        return out / f"{name}.json"
    above = out.parent
    while not above.exists():
        above = above.parent
    if not above.is_dir():
        parser.error(
            f"--out {out}: {above} is a file, not a directory; give a file such as "
            f"bench/results/{name}.json or a directory"
        )
    return out
