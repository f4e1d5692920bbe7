"""The packaged line files in `digest/data/`: one reader for the form they share.

A line is data unless it is blank or starts with `#` (a comment line); data lines come
stripped, in file order. CSV files are read the same way, each row with its 1-based line
number so that an error can name the line. What a line means is the reading module's business.
"""

from __future__ import annotations

import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


def _is_data(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith("#")


def data_lines(name: str) -> list[str]:
    """The data lines of `digest/data/NAME`, stripped; blank lines and # comment lines left out."""
    lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if _is_data(line)]


def csv_rows(lines: list[str]) -> list[tuple[int, list[str]]]:
    """The CSV rows among `lines` (not blank, not a comment) with their 1-based line numbers,
    fields stripped. Also for CSV files outside the package, such as a user's region table."""
    return [(number, [field.strip() for field in next(csv.reader([line]))])
            for number, line in enumerate(lines, start=1) if _is_data(line)]


def data_rows(name: str) -> list[list[str]]:
    """The rows of the packaged CSV file `digest/data/NAME` below its header row."""
    return [fields for _, fields in csv_rows((DATA_DIR / name).read_text(encoding="utf-8").splitlines())[1:]]
