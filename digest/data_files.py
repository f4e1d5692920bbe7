"""The packaged line files in `digest/data/`: one reader for the form they share.

A line is data unless it is blank or starts with `#` (a comment line); data lines come
stripped, in file order. What a line means is the reading module's business.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


def data_lines(name: str) -> list[str]:
    """The data lines of `digest/data/NAME`, stripped; blank lines and # comment lines left out."""
    lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
