"""The regional news digest: collect news, summarize it, group it by world region, mail it.

The public surface is `__all__` (pinned by tests/test_public_api.py); everything else is
reached through its module (`digest.render`, `digest.deliver`, ...). Names are imported on
first use: importing `digest.models` must not pull in sumy, the gazetteer and SQLAlchemy.
`summarize` is not among them: `digest.summarize` is the module (its function is
`digest.summarize.summarize`), and an attribute of that name would be replaced by the module
as soon as it is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name → the module that defines it.
_EXPORTS = {
    # configuration
    "Config": "digest.config",
    "load_config": "digest.config_file",
    "Secrets": "digest.credentials",
    "resolve_secrets": "digest.credentials",
    # the models
    "Article": "digest.models",
    "DigestItem": "digest.models",
    "Edition": "digest.models",
    "EditionStats": "digest.models",
    "Location": "digest.models",
    "RunReport": "digest.models",
    "Section": "digest.models",
    "SourceError": "digest.models",
    "Subscriber": "digest.models",
    # the stages
    "EditionPlan": "digest.pipeline",
    "plan_edition": "digest.pipeline",
    "summarize_faces": "digest.pipeline",
    "locate_places": "digest.pipeline",
    "Story": "digest.stories",
    "stories_of": "digest.stories",
    "RegionTable": "digest.regions",
    "load_region_table": "digest.regions",
    "locate": "digest.regions",
    "load_gazetteer": "digest.gazetteer",
    "render_edition": "digest.render",
    # errors
    "DigestError": "digest.errors",
    "ConfigError": "digest.config_file",
    "DeliveryError": "digest.deliver",
    "FeedError": "digest.feeds",
    "FetchError": "digest.fetch",
    "GazetteerError": "digest.gazetteer",
    "ProofError": "digest.proof",
    "RegionTableError": "digest.regions",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'digest' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
