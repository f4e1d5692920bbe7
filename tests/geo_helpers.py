"""The gazetteer index for geoparser tests, opened (or built, once per machine) per session."""

from __future__ import annotations

import pytest

from digest.gazetteer import Gazetteer, load_gazetteer
from digest.models import Location
from digest.regions import RegionTable, load_region_table, locate


@pytest.fixture(scope="session")
def gaz() -> Gazetteer:
    return load_gazetteer()


def where(gazetteer: Gazetteer, title: str, text: str, table: RegionTable | None = None) -> Location:
    """`locate` with the default region table unless one is given."""
    return locate(title, text, table or load_region_table(), gazetteer)
