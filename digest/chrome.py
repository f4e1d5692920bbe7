"""Site chrome in plain-text dumps of pages (date banners, breadcrumbs, share buttons, credits,
"related posts"): the line patterns of `data/chrome_lines.txt`, and the headline found from the
lines' own structure, not from a list."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from digest.page_metadata import parse_date

CHROME_FILE = Path(__file__).resolve().parent / "data" / "chrome_lines.txt"

# A line that reads like body text, not a label: enough words and a sentence ending.
_PARAGRAPH = re.compile(r".*[.!?…:;\"'”’»)]$")
PARAGRAPH_WORDS = 12


@lru_cache(maxsize=1)
def chrome_patterns() -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
    """The patterns of lines to drop, and of lines that end the story (`end:`)."""
    drop: list[re.Pattern[str]] = []
    end: list[re.Pattern[str]] = []
    for raw in CHROME_FILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        target, pattern = (end, line[4:]) if line.startswith("end:") else (drop, line)
        target.append(re.compile(pattern, re.IGNORECASE))
    return drop, end


def matches(line: str, patterns: list[re.Pattern[str]]) -> bool:
    return any(p.fullmatch(line) for p in patterns)


def is_paragraph(line: str) -> bool:
    return len(line.split()) >= PARAGRAPH_WORDS and bool(_PARAGRAPH.match(line))


def headline(header: list[str], raw_header: list[str], drop: list[re.Pattern[str]]) -> str:
    """The headline among the lines above the body.

    A breadcrumb ends with the headline, so a header line that closes a breadcrumb wins;
    otherwise the longest line, since section labels and bylines are short.
    """
    if not header:
        return ""
    for crumb in (line for line in raw_header if matches(line, drop)):
        last = re.split(r"\s*(?:/|»|›|>|\|)\s*", crumb)[-1]
        if last in header:
            return last
    return max(header, key=lambda line: len(line.split()))


def banner_date(line: str, drop: list[re.Pattern[str]]) -> datetime | None:
    if not line or not matches(line, drop) or not re.search(r"\d{4}", line):
        return None
    return parse_date(re.sub(r"\s+,", ",", line))
