"""Which language an article is in, and sumy's stop words and a stemmer for it, fully offline.

Stemming uses Snowball through PyStemmer where sumy would take NLTK's Snowball stemmers (the same
algorithms without importing all of NLTK and SciPy, which cost about 1.6 s at start-up); languages
sumy stems with its own code (Czech, Greek, Polish, Ukrainian...) use sumy's stemmer, loaded on
first use.
"""

from __future__ import annotations

import logging
import pkgutil
import re
from collections.abc import Callable
from functools import cache, lru_cache

import Stemmer as pystemmer

from digest.summary_data import sections

log = logging.getLogger("digest.summarize")

# Languages sumy has stop words for and whose words our tokenizer can find (space-delimited
# scripts). Those whose stemmer also works here are supported; others use the language-neutral method.
STOP_WORD_LANGUAGES = frozenset({
    "arabic", "czech", "english", "french", "german", "greek", "hebrew", "italian", "polish",
    "portuguese", "slovak", "spanish", "swedish", "ukrainian",
})
# sumy's own stemmers (sumy.nlp.stemmers.Stemmer.SPECIAL_STEMMERS); the rest is Snowball.
SUMY_STEMMED = frozenset({"czech", "slovak", "hebrew", "ukrainian", "greek", "polish"})

WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
# The same words in ASCII text (most news), where a letter class is a cheaper test than \w minus digits.
_ASCII_WORD = re.compile(r"[A-Za-z]+(?:['\-][A-Za-z]+)*")


def words(text: str) -> list[str]:
    """The words of `text` (WORD's matches): letters, joined by apostrophes and hyphens."""
    return (_ASCII_WORD if text.isascii() else WORD).findall(text)


@lru_cache(maxsize=256)  # asked once per article, mostly with the same few names
def language_name(language: str | None) -> str | None:
    """'en', 'en-GB', 'eng', 'English' → 'english' (sumy's naming); None stays None."""
    if not language or not language.strip():
        return None
    primary = re.split(r"[-_]", language.strip())[0].lower()
    # pycountry says "Modern Greek (1453-)" where sumy says "greek".
    return re.sub(r"^modern |\s*\(.*\)$", "", _normalize_language(primary))


def _normalize_language(code: str) -> str:
    """sumy.utils.normalize_language: an ISO 639 code → its English name, lower-cased (any other
    name is only lower-cased). Done here because sumy.utils imports `requests` (about 50 ms)."""
    from pycountry import languages  # about 50 ms to import and load: only for a named language

    for key in ("alpha_2", "alpha_3"):
        try:
            found = languages.get(**{key: code})
        except KeyError:
            continue
        if found:
            code = found.name.lower()
    return code.lower()


@cache
def stop_words(language: str) -> frozenset[str]:
    """sumy's stop words for a language named as sumy names it ('english')."""
    # sumy's get_stop_words would first look the name up in pycountry, whose database costs 0.14 s
    # to load; our names are sumy's already.
    try:
        data = pkgutil.get_data("sumy", f"data/stopwords/{language}.txt")
    except OSError as error:
        raise LookupError(f"sumy has no stop words for {language!r}") from error
    # As sumy.utils.parse_stop_words reads them (that module imports `requests`).
    return frozenset(word.rstrip() for word in data.decode("utf-8").splitlines() if word)


def _lower(word: str) -> str:
    return word.lower()


@cache
def stemmer(language: str | None) -> Callable[[str], str]:
    """A word → stem function (lower-cased); None gives the language-neutral lower-casing."""
    if language is None:
        return _lower
    if language in SUMY_STEMMED:
        from sumy.nlp.stemmers import Stemmer  # imports NLTK: only for the languages that need it

        stem = Stemmer(language)
    elif language in pystemmer.algorithms():
        snowball = pystemmer.Stemmer(language)

        def stem(word: str) -> str:
            return snowball.stemWord(word.lower())
    else:
        raise LookupError(f"no stemmer for language {language!r}")
    # Words repeat a lot across articles.
    return lru_cache(maxsize=100_000)(stem)


# Script ranges for languages we cannot word-split (no spaces between words).
_UNSPACED_SCRIPTS = (
    ("japanese", re.compile(r"[\u3040-\u30ff]")),
    ("korean", re.compile(r"[\uac00-\ud7af]")),
    ("thai", re.compile(r"[\u0e00-\u0e7f]")),
    ("chinese", re.compile(r"[\u4e00-\u9fff]")),
)
_DETECT_SAMPLE_WORDS = 300
_DETECT_MIN_SHARE = 0.15      # share of stop words below which we call the language unknown


@cache
def _detection_profiles() -> tuple[tuple[str, frozenset[str]], ...]:
    """Stop words per language: sumy's lists, plus a few languages sumy lacks (a data file)."""
    profiles = {language: stop_words(language) for language in sorted(STOP_WORD_LANGUAGES)}
    for language, lines in sections("summary_detect_stopwords.txt", "language").items():
        profiles[language] = frozenset(w for line in lines for w in line.split())
    return tuple(profiles.items())


def detect_language(text: str) -> str | None:
    """A light offline guess of the language (sumy's name, e.g. 'english'), or None when unsure.

    Unspaced scripts are recognised by their characters; other languages by the share of their
    stop words among the first few hundred words. Languages sumy lacks can be recognised too.
    """
    sample = text[:4000]
    letters = sum(1 for c in sample if c.isalpha())
    for name, script in _UNSPACED_SCRIPTS:
        # A share, not a count: an English story quoting one Korean sentence is still English.
        if len(script.findall(sample)) > max(20, letters // 3):
            return name
    words = [w.lower() for w in WORD.findall(sample)][:_DETECT_SAMPLE_WORDS]
    if len(words) < 3:
        return None
    best, best_share = None, 0.0
    for language, stops in _detection_profiles():
        share = sum(1 for w in words if w in stops) / len(words)
        if share > best_share:
            best, best_share = language, share
    return best if best_share >= _DETECT_MIN_SHARE else None


@cache
def is_supported(language: str) -> bool:
    if language not in STOP_WORD_LANGUAGES:
        return False
    try:
        stemmer(language)("news")
    except (LookupError, ValueError) as error:  # sumy wants an optional package for some stemmers
        log.warning("summarize: the %s stemmer is unavailable: %s", language, error)
        return False
    return True


def resolve_language(text: str, language: str | None) -> str | None:
    """The sumy language to use, or None for the language-neutral method (with a warning)."""
    name = language_name(language)
    if name is None:
        name = detect_language(text)
        if name is None:
            log.warning("summarize: could not detect the article's language; "
                        "using the language-neutral method")
            return None
    if not is_supported(name):
        log.warning("summarize: language %r is not supported by sumy's stop words and stemmers "
                    "here; using the language-neutral method", language or name)
        return None
    return name
