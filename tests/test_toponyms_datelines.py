"""Datelines read by their shape: capitals at the start of the text, of a paragraph or after a
byline's date, an optional ", State abbrev.", then a dash-like run (or, after a state's
abbreviation, the next sentence's capital). The sentences are written for these tests in the
shape of the local news where each form turned up."""

from __future__ import annotations

import pytest

from digest.toponyms import candidates
from geo_helpers import gaz, where  # noqa: F401 - gaz is a fixture


@pytest.mark.parametrize(("text", "division"), [
    ("Budget cut. COLUMBIA --- The governor said he would refuse the money again.", "US-SC"),
    ("Snow and ice. KANSAS CITY, Mo. â ” Tens of thousands were without power.", "US-MO"),
    ("Storm overturns trucks. SALINA, Kan. Strong winds toppled 13 vehicles on Monday.", "US-KS"),
    ("Neighbourhood clean-up. DeKALB – Residents of the fourth ward met on Monday.", "US-IL"),
])
def test_a_dateline_is_read_by_its_shape_whatever_its_dash(gaz, text, division):  # noqa: F811
    found = [c for c in candidates("", text, gaz) if c.dateline]
    assert found, f"no dateline read in {text!r}"
    assert where(gaz, "Local news", text).division == division


def test_a_dateline_after_a_bylines_date_counts(gaz):  # noqa: F811
    text = "Mayor wants a new plan. By A. Writer March 24, 2009 BOSSIER CITY -- The mayor wants a plan."
    assert [c.name for c in candidates("", text, gaz) if c.dateline] == ["Bossier City"]


@pytest.mark.parametrize("text", [
    "Dr. Smith said the clinic would open on Monday.",
    "Talks resumed. The Jones family, Mo. Smith and others met.",
])
def test_capitals_without_a_datelines_shape_are_no_dateline(gaz, text):  # noqa: F811
    assert not [c for c in candidates("", text, gaz) if c.dateline]
