"""`digest init`: a folder with a commented starter config and the bundled sample corpus.

The config is `digest/data/starter.toml`; the corpus is the repository's `sample/` (inside the
package in an installed wheel), without the script that generated it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from digest.config import PACKAGE_DIR, SAMPLE_DIR
from digest.errors import DigestError

STARTER_CONFIG = PACKAGE_DIR / "data" / "starter.toml"
CONFIG_NAME = "digest.toml"
SAMPLE_NAME = "sample"
# The sample corpus is the news of 17 October 2017; its edition is the next morning's.
SAMPLE_DATE = "2017-10-18"


class StarterError(DigestError):
    """The folder cannot be set up (the message names the path)."""


@dataclass(frozen=True)
class Starter:
    config: Path
    sample: Path


def write_starter(directory: Path, *, force: bool = False) -> Starter:
    """Write `digest.toml` and `sample/` into `directory` (created if missing).

    An existing config or sample folder is kept unless `force`: `init` never silently
    replaces an operator's settings.
    """
    config, sample = directory / CONFIG_NAME, directory / SAMPLE_NAME
    if not force:
        existing = [str(p) for p in (config, sample) if p.exists()]
        if existing:
            raise StarterError(f"{' and '.join(existing)} already exist(s); pass --force to replace")
    if not SAMPLE_DIR.is_dir():
        raise StarterError(f"{SAMPLE_DIR}: the bundled sample corpus is missing from this installation")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if sample.exists():
            shutil.rmtree(sample)
        shutil.copytree(SAMPLE_DIR, sample, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        shutil.copyfile(STARTER_CONFIG, config)
    except OSError as exc:
        raise StarterError(f"{directory}: cannot write the starter files: {exc}") from exc
    return Starter(config, sample)
