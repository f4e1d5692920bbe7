"""The package's public surface: `digest.__all__` is a promise, and `DigestError` catches the library's errors."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import digest
from digest.errors import DigestError

# Changing this list changes what users may import from `digest`: do it on purpose.
PUBLIC = [
    "Article", "Config", "ConfigError", "DeliveryError", "DigestError", "DigestItem", "Edition",
    "EditionPlan", "EditionStats", "FeedError", "FetchError", "GazetteerError", "Location", "ProofError",
    "RegionTable", "RegionTableError", "RunReport", "Secrets", "Section", "SourceError", "Story", "Subscriber",
    "load_config", "load_gazetteer", "load_region_table", "locate", "locate_places", "plan_edition",
    "render_edition", "resolve_secrets", "stories_of", "summarize_faces",
]


def test_the_public_names_are_exactly_the_pinned_list():
    assert sorted(digest.__all__) == sorted(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_is_the_object_its_module_defines(name):
    value = getattr(digest, name)
    assert value is getattr(importlib.import_module(value.__module__), name)


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="no_such_thing"):
        digest.no_such_thing  # noqa: B018


def test_importing_the_models_does_not_load_the_heavy_stages():
    code = ("import sys, digest, digest.models; "
            "print(sorted(m for m in ('sumy', 'sqlalchemy', 'digest.gazetteer') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


# Each error of the library, with the built-in base its callers already catch.
ERRORS = [
    ("digest.addresses", "AddressError", ValueError),
    ("digest.feeds", "FeedError", Exception),
    ("digest.config_file", "ConfigError", Exception),
    ("digest.deliver", "DeliveryError", RuntimeError),
    ("digest.bounces", "BounceError", RuntimeError),
    ("digest.extract", "ExtractError", Exception),
    ("digest.fact_check", "FactCheckError", ValueError),
    ("digest.fetch", "FetchError", Exception),
    ("digest.gazetteer", "GazetteerError", RuntimeError),
    ("digest.store.ledger", "LedgerError", RuntimeError),
    ("digest.message", "MessageError", ValueError),
    ("digest.proof", "ProofError", Exception),
    ("digest.regions", "RegionTableError", ValueError),
    ("digest.starter", "StarterError", Exception),
    ("digest.links", "TokenError", Exception),
    ("digest.subscribers", "SubscriberError", ValueError),
]


@pytest.mark.parametrize(("module", "name", "builtin"), ERRORS, ids=[e[1] for e in ERRORS])
def test_each_library_error_is_a_digest_error_and_keeps_its_builtin_base(module, name, builtin):
    error = getattr(importlib.import_module(module), name)
    assert issubclass(error, DigestError) and issubclass(error, builtin)


def test_a_bad_config_is_caught_as_a_digest_error(tmp_path):
    from digest.config_file import load_config

    path = tmp_path / "digest.toml"
    path.write_text("[edition\n", encoding="utf-8")
    with pytest.raises(DigestError, match="digest.toml"):
        load_config(path)
