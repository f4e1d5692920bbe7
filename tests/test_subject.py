"""The subject line counts regions and stories in words that agree with the numbers."""

from __future__ import annotations

from edition_builders import edition, item

from digest import render
from digest.config import Config, EditionConfig


def test_one_region_and_one_story_are_singular():
    one = edition([item("Floods close roads in the north", "Europe")])
    assert render.render_edition(one, Config()).subject == "World Digest — 4 Jan: 1 region, 1 story"


def test_a_subscribers_single_region_is_singular_while_the_edition_is_plural():
    several = edition([item("Floods close roads", "Europe"), item("Talks resume", "Europe"),
                       item("Markets rally", "Asia")])
    config = Config()
    assert render.render_edition(several, config).subject == "World Digest — 4 Jan: 2 regions, 3 stories"
    europe = render.render_segment(several, config, frozenset({"Europe"}))
    assert europe.subject == "World Digest — 4 Jan: 1 region, 2 stories"


def test_patterns_using_the_numeric_fields_still_get_plain_numbers():
    config = Config(edition=EditionConfig(subject="{title}: {stories} stories in {regions} regions"))
    one = edition([item("Floods close roads in the north", "Europe")])
    assert render.render_edition(one, config).subject == "World Digest: 1 stories in 1 regions"
