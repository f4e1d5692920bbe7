"""A local paper's home (`[[sources]] home`): its readers know which Pineville or London a bare
name means, so the outlet's state or country helps read it; it places no story by itself and does
not outweigh what a story says about somewhere else."""

from __future__ import annotations

import pytest

from digest.config import SourceConfig
from digest.regions import load_region_table, locate
from geo_helpers import gaz  # noqa: F401 - a fixture


def where(gazetteer, title: str, text: str, home: str | None = None) -> tuple[str | None, str | None]:
    found = locate(title, text, load_region_table(), gazetteer, home)
    return found.country, found.division


@pytest.mark.parametrize(("title", "text", "home", "without"), [
    ("Alexandria woman charged in connection with Kelleyland fire",
     "An Alexandria woman was arrested and charged with aggravated arson, the Sheriff's Office said.",
     "US-LA", ("EG", "EG-ALX")),
    ("Break-in at pharmacy", "London police are investigating a break-in at a pharmacy early Sunday, a spokesman said.",
     "CA-ON", ("GB", "GB-ENG")),
    ("Mansfield schools to close early", "Mansfield schools will close early on Friday because of the storm.",
     "US-TX", ("GB", "GB-ENG")),
    ("Oxford police seek suspect", "Oxford police are looking for a man who robbed a bank on High Street.",
     "US-OH", ("GB", "GB-ENG")),
])
def test_a_bare_town_name_is_read_as_the_home_states_namesake(gaz, title, text, home, without):
    assert where(gaz, title, text) == without  # the larger namesake, with nothing else to go on
    assert where(gaz, title, text, home) == ("US" if home.startswith("US") else home[:2], home)


def test_a_small_town_with_no_state_named_gets_the_home_state(gaz):
    text = "Pineville police arrested two men on Tuesday after a chase that ended near the river."
    assert where(gaz, "Pineville man arrested", text, "US-LA") == ("US", "US-LA")


def test_the_home_places_no_story_that_names_no_place(gaz):
    text = "The council voted 5-2 on Monday to raise parking fees downtown."
    assert where(gaz, "Council raises fees", text, "US-LA") == (None, None)


@pytest.mark.parametrize(("title", "text", "home", "country"), [
    ("Macron speaks", "French President Emmanuel Macron spoke in Paris on Tuesday about pensions.", "US-TX", "FR"),
    ("Strike in London", "British rail workers walked out in London on Monday, halting trains across England.",
     "CA-ON", "GB"),
    ("Iraq parliament meets", "Protesters filled the streets of Baghdad as Iraq's parliament met.", "US-LA", "IQ"),
])
def test_a_story_about_somewhere_else_stays_there(gaz, title, text, home, country):
    assert where(gaz, title, text, home)[0] == country


def test_a_sources_home_is_an_iso_code_checked_when_the_config_is_read():
    assert SourceConfig(name="Town Talk", kind="feed", url="https://example.org/rss", home="us-la").home == "US-LA"
    with pytest.raises(ValueError, match="unknown home 'Louisiana'"):
        SourceConfig(name="Town Talk", kind="feed", url="https://example.org/rss", home="Louisiana")
