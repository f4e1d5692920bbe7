"""Reading a config file: TOML, validated into a `Config` (`digest.config`), with relative paths
taken against the file's own folder, so a config works from any working directory.

`load_config` checks everything a run needs that the file itself decides (addresses, URLs, the
subject pattern, the store URL, the templates folder and the region table), so a mistake is one
line naming the file and the key, before any work.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import ValidationError

from digest.config import DEFAULT_CONFIG, Config
from digest.errors import DigestError
from digest.regions import RegionTableError, load_region_table

# What the edition (digest.render) and the web app read from the templates folder.
TEMPLATE_FILES = ("digest.html.j2", "digest.txt.j2", "digest.css", "digest-head.css", "web")


class ConfigError(DigestError):
    """The configuration file is missing or invalid; the message names the file and the field."""


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(os.path.expanduser(str(value)))
    return path if path.is_absolute() else (base / path).resolve()


def _resolve_source_url(base: Path, url: str) -> str:
    if "://" in url:
        return url
    return str(_resolve(base, url))


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a config file; relative paths resolve against its folder."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}: is a directory, not a config file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file (not UTF-8 at byte {exc.start}); "
                          "expected a TOML config") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return config_from_dict(raw, base=path.resolve().parent, path=path)


def _problem(path: Path, err: dict) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{path}: {where}: {err['msg'].removeprefix('Value error, ')}"


def config_from_dict(raw: dict, base: Path, path: Path = Path("<dict>")) -> Config:
    raw = dict(raw)
    raw["path"] = str(path)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("\n".join(_problem(path, err) for err in exc.errors())) from exc
    config.output_dir = _resolve(base, config.output_dir)
    config.templates_dir = _resolve(base, config.templates_dir)
    config.edition.region_table = _resolve(base, config.edition.region_table)
    if config.subscribers_file:
        config.subscribers_file = _resolve(base, config.subscribers_file)
    if config.mail.dkim_key_path:
        config.mail.dkim_key_path = _resolve(base, config.mail.dkim_key_path)
    if config.store_url.startswith("sqlite:///") and not config.store_url.startswith("sqlite:////"):
        db = _resolve(base, config.store_url.removeprefix("sqlite:///"))
        config.store_url = f"sqlite:///{db}"
    for source in config.sources:
        source.url = _resolve_source_url(base, source.url)
    problems = _missing_files(config)
    if problems:
        raise ConfigError("\n".join(f"{path}: {problem}" for problem in problems))
    return config


def _missing_files(config: Config) -> list[str]:
    """What the resolved paths lack: the templates folder and a readable region table."""
    problems = []
    missing = [name for name in TEMPLATE_FILES if not (config.templates_dir / name).exists()]
    if not config.templates_dir.is_dir():
        problems.append(f"templates_dir: {config.templates_dir} is not a folder")
    elif missing:
        problems.append(f"templates_dir: {config.templates_dir} lacks {', '.join(missing)} "
                        "(expected a copy of the project's templates folder)")
    try:
        load_region_table(config.edition.region_table)
    except RegionTableError as exc:
        problems.append(f"edition.region_table: {exc}")
    return problems
