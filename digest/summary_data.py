"""The summarizer's data files (digest/data/summary_*): loading them, and their fingerprint."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from digest.data_files import data_lines


def data_text(name: str) -> str:
    return files("digest").joinpath("data", name).read_text(encoding="utf-8")


def sections(name: str, unit: str) -> dict[str, list[str]]:
    """A `[section]`-headed line file: section → its lines (blank lines and # comments skipped)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in data_lines(name):
        if line.startswith("[") and line.endswith("]"):
            current = found.setdefault(line[1:-1], [])
        elif current is None:
            raise ValueError(f"{name}: {line[:40]!r} comes before any [{unit}]")
        else:
            current.append(line)
    return found


@dataclass(frozen=True)
class Abbreviations:
    title: frozenset[str]
    numeric: frozenset[str]
    general: frozenset[str]


@cache
def abbreviations() -> Abbreviations:
    found = sections("summary_abbreviations.txt", "section")
    unknown = set(found) - {"title", "numeric", "general"}
    if unknown:
        raise ValueError(f"summary_abbreviations.txt: unknown sections {sorted(unknown)}")
    return Abbreviations(*(frozenset(w.lower() for w in found.get(k, ())) for k in ("title", "numeric", "general")))


@dataclass(frozen=True)
class Patterns:
    dateline: tuple[re.Pattern[str], ...]   # one opening an article
    later_dateline: tuple[re.Pattern[str], ...]  # one opening a later sentence (a second article run on)
    credit: tuple[re.Pattern[str], ...]     # a photo credit opening a sentence
    noise: tuple[re.Pattern[str], ...]      # a sentence is noise if any of these is found in it
    noise_ascii: tuple[re.Pattern[str], ...]  # the same in ASCII mode, for ASCII sentences (not the folded)
    noise_folded: tuple[re.Pattern[str], ...]  # the case-blind ones lower-cased, for the lower-cased sentence


def _top_level_branches(source: str) -> list[str]:
    """A regular expression's alternatives outside every group (escapes and classes skipped)."""
    depth, in_class, escaped, start = 0, False, False, 0
    branches = []
    for at, char in enumerate(source):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "|" and not depth:
            branches.append(source[start:at])
            start = at + 1
    return [*branches, source[start:]]


def _ascii_safe(source: str) -> bool:
    """Whether a pattern matches ASCII text alike in ASCII mode: no cased letter outside ASCII
    (in Unicode mode a case-blind "ſ" or Kelvin sign would match ASCII "s" or "k")."""
    return all(char.isascii() or char.lower() == char.upper() for char in source)


def _combined(sources: list[str], flags: int = 0) -> tuple[re.Pattern[str], ...]:
    """The same test as searching each pattern, with fewer and cheaper searches.

    A pattern's top-level alternatives are searched apart (a leading (?i) applied to each). Those
    anchored at the start go into one `^(?:…|…)`, which the regex engine tries at the start only; the
    others stay apart: joined, they would be tried together at every position, which is slower
    than one after the other.
    """
    for source in sources:
        re.compile(source)  # a bad pattern is named by its own error
    pieces = []
    for source in sources:
        blind = source.startswith("(?i)")
        pieces += [f"(?i){branch}" if blind else branch for branch in _top_level_branches(source.removeprefix("(?i)"))]
    anchored = [piece for piece in pieces if piece.removeprefix("(?i)").startswith("^")]
    others = tuple(re.compile(piece, flags) for piece in pieces if piece not in anchored)
    if not anchored:
        return others
    joined = "|".join(f"(?i:{piece[4:]})" if piece.startswith("(?i)") else f"(?:{piece})" for piece in anchored)
    return (re.compile(f"^(?:{joined})", flags), *others)


def _folded(source: str) -> str | None:
    """A case-blind pattern ("(?i)…") as the case-sensitive one that finds the same in lower-cased
    ASCII text, or None where that is not plain to see (an escape that names a character, a group
    flag). The engine skips ahead to a case-sensitive pattern's first letters; a case-blind one
    it tries at every position."""
    out, at, source = [], 0, source.removeprefix("(?i)")
    if "(?P" in source or re.search(r"\(\?[aiLmsux]", source):
        return None
    while at < len(source):
        if source[at] == "\\":
            if source[at + 1:at + 2] in ("x", "u", "U", "N") or source[at + 1:at + 2].isdigit():
                return None
            out.append(source[at:at + 2])
            at += 2
        else:
            out.append(source[at].lower())
            at += 1
    return "".join(out)


def _split_folded(found: tuple[re.Pattern[str], ...]) -> tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]:
    """ASCII-mode patterns as (those searched in the sentence, those searched in it lower-cased)."""
    folded = {p: _folded(p.pattern) if p.flags & re.IGNORECASE else None for p in found}
    return (tuple(p for p in found if folded[p] is None),
            tuple(re.compile(f, re.ASCII) for f in folded.values() if f is not None))


def _credits(sources: list[str]) -> tuple[re.Pattern[str], ...]:
    """The credit patterns as one (each is anchored at the start; the first that matches wins, as
    when they are tried in turn): one match per sentence in place of one per pattern."""
    for source in sources:
        re.compile(source)  # a bad pattern is named by its own error
    return (re.compile("|".join(f"(?:{source})" for source in sources)),) if sources else ()


@cache
def patterns() -> Patterns:
    data = tomllib.loads(data_text("summary_patterns.toml"))
    try:
        noise = data["noise"]["patterns"]
        ascii_safe = all(map(_ascii_safe, noise))
        in_ascii = _combined(noise, re.ASCII) if ascii_safe else _combined(noise)
        return Patterns(tuple(re.compile(p) for p in data["dateline"]["patterns"]),
                        tuple(re.compile(p) for p in data["later_dateline"]["patterns"]),
                        _credits(data["credit"]["patterns"]),
                        _combined(noise), *(_split_folded(in_ascii) if ascii_safe else (in_ascii, ())))
    except (KeyError, re.error) as error:
        raise ValueError(f"summary_patterns.toml: {error}") from error


@cache
def cues() -> dict[str, Any]:
    """summary_cues.toml: the words that tell whether a sentence can stand alone, and number words."""
    return tomllib.loads(data_text("summary_cues.toml"))


@cache
def fingerprint() -> str:
    """A short hash of the summary_* data files: editing a pattern list invalidates cached summaries."""
    data = files("digest").joinpath("data")
    names = sorted(p.name for p in data.iterdir() if p.name.startswith("summary_"))
    return hashlib.sha256("".join(name + data_text(name) for name in names).encode("utf-8")).hexdigest()[:12]
