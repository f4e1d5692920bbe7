"""Coherence steps of the resolver (`digest.coherence`, `digest.resolve`): the story's own division
settling names the gazetteer only knows elsewhere, and what a story that places nothing else needs.
Sentences written for these tests in the shape of local news."""

from __future__ import annotations

from digest.resolve import resolve
from digest.toponyms import candidates
from geo_helpers import gaz, where  # noqa: F401 - gaz is a fixture


def meanings(gazetteer, text: str, title: str = "") -> dict[str, set[str | None]]:
    found: dict[str, set[str | None]] = {}
    for r in resolve(candidates(title, text, gazetteer)):
        found.setdefault(r.candidate.name, set()).add(r.code)
    return found


STORY = ("Town leaders in Atlantic Beach voted to host the rally again. Police from Myrtle Beach and "
         "North Myrtle Beach will help, and Horry County deputies will close the roads.")


def test_a_town_placed_alone_in_another_state_takes_the_state_of_the_story(gaz):
    # The gazetteer's Atlantic Beach towns are in Florida, North Carolina and New York; every
    # other name here is in South Carolina, which has an Atlantic Beach too small to be listed.
    found = meanings(gaz, STORY, "Bike rally returns")
    assert found["Atlantic Beach"] == {"US-SC"}


def test_a_town_stays_where_the_gazetteer_has_it_when_the_story_has_no_clear_state(gaz):
    text = "Town leaders in Atlantic Beach voted to host the rally again, with help from Horry County."
    assert meanings(gaz, text, "Bike rally returns")["Atlantic Beach"] != {"US-SC"}


def test_a_county_keeps_its_own_state_beside_a_story_placed_elsewhere(gaz):
    # Every county is in the gazetteer: one named beside another state's towns is that county.
    text = ("Police from Myrtle Beach and North Myrtle Beach and Horry County deputies joined "
            "officers from Brunswick County at the border.")  # in North Carolina and Virginia only
    assert meanings(gaz, text, "Joint patrol")["Brunswick County"] == {"US-NC"}


def test_a_smaller_city_read_as_a_first_name_leaves_room_for_a_lone_towns_weak_evidence(gaz):
    # Brent (a London borough) before a surname places nothing; "in Cottonport" then still does.
    text = "Officers arrested two people at a home in Cottonport overnight, administrator Brent Schleisman said."
    found = where(gaz, "Arrests", text)
    assert (found.country, found.division) == ("US", "US-LA")
    assert where(gaz, "Arrests", "Administrator Brent Schleisman said the rule would pass.").country is None


def test_a_town_given_the_story_state_as_a_guess_weighs_as_one_mention(gaz):
    # Atlantic Beach takes South Carolina only as a guess (see above): named three times, it still
    # counts once towards where the story is.
    text = STORY + " Atlantic Beach expects 40,000 riders, and Atlantic Beach merchants are ready."
    weights = [r.weight for r in resolve(candidates("Bike rally returns", text, gaz))
               if r.candidate.name == "Atlantic Beach"]
    assert len(weights) == 3 and sum(weights) == max(weights) > 0


def test_a_town_the_gazetteer_lacks_is_in_the_state_written_after_it(gaz):
    # LGL: "… being held in the North Central Regional Jail in Greenwood, W. Va., on a parole
    # violation" (the gazetteer's Greenwoods are in Indiana, South Carolina, Mississippi…)
    text = "He is being held in the North Central Regional Jail in Greenwood, W. Va., on a parole violation."
    assert meanings(gaz, text, "Man charged")["Greenwood"] == {"US-WV"}


def test_a_datelines_town_the_gazetteer_lacks_takes_the_state_of_the_story(gaz):
    # LGL: "HARWINTON — Former Democratic Senate nominee Ned Lamont appeared at the Harwinton
    # Senior Center Sunday" (Harwinton, Connecticut: 5,000 people, not in cities500)
    text = ("HARWINTON — Former Democratic Senate nominee Ned Lamont appeared at the Harwinton Senior "
            "Center Sunday. Officials came from Torrington, Waterbury and Litchfield County.")
    assert meanings(gaz, text, "Lamont visits Harwinton supporters")["Harwinton"] == {"US-CT"}


def test_a_heading_before_a_colon_is_no_unknown_town(gaz):
    text = "BREAKING NEWS: Interstate 64 lanes reopen in Charleston and Kanawha County after an accident."
    assert "Breaking News" not in meanings(gaz, text, "Lanes reopen")


def test_a_lake_or_river_the_gazetteer_lacks_takes_the_state_of_the_story(gaz):
    # LGL: "Volunteers are being sought to help clean up the banks of the Kanawha River in Charleston"
    text = ("CHARLESTON, W.Va. — Volunteers are being sought to help clean up the banks of the Kanawha "
            "River in Charleston. Crews from Kanawha County and Putnam County will help.")
    assert meanings(gaz, text, "River cleanup planned Saturday")["Kanawha River"] == {"US-WV"}


def test_a_lake_the_gazetteer_has_as_a_town_keeps_its_meaning(gaz):
    text = "Police in Lake Charles arrested two men on Friday, Calcasieu Parish deputies said."
    assert meanings(gaz, text, "Arrests")["Lake Charles"] == {"US-LA"}


def test_a_township_takes_the_state_of_the_story_not_its_namesake_towns(gaz):
    # LGL: "… sirens are scheduled to be installed in Columbus, Pleasant Township, Madison Township
    # and Grove City this year"
    text = ("Sirens will be installed in Columbus, Pleasant Township, Madison Township and Grove City, "
            "Franklin County and Ohio officials said.")
    found = meanings(gaz, text, "More sirens")
    assert found["Pleasant Township"] == found["Madison Township"] == {"US-OH"}


def test_a_township_takes_even_a_narrow_lead_of_the_storys_names(gaz):
    # LGL: "Tewksbury Twp. introduces special events ordinance." (one other name places the story)
    text = "Tewksbury Twp. introduces special events ordinance. Hunterdon County officials will review it."
    assert meanings(gaz, text, "Ordinance")["Tewksbury Twp"] == {"US-NJ"}


def test_a_big_citys_name_read_as_a_small_town_takes_the_state_of_the_story(gaz):
    # LGL (an Ontario paper): Oxford is a county of Ontario the gazetteer lacks; read as a
    # Canadian place it was Oxford, Alberta, the largest Canadian namesake.
    text = ("The local reaction to Thursday's Ontario budget speech was mixed in Woodstock. "
            "\"These are badly needed across the province and in Oxford,\" the Woodstock mayor said. "
            "Tillsonburg council will meet on Monday, and Oxford MPP Ernie Hardeman spoke in Ontario.")
    assert meanings(gaz, text, "Mixed local reaction towards Ontario budget")["Oxford"] == {"CA-ON"}


def test_a_big_citys_namesake_chosen_by_the_story_stays(gaz):
    # LGL: Manhattan, Kansas (not New York's) beside Kansas City, in a story mostly about Dallas.
    text = ("American Eagle will introduce a service from Manhattan Regional Airport to Dallas/Fort "
            "Worth. A flight from Kansas City International to Dallas costs more; Dallas is the hub.")
    assert meanings(gaz, text, "Manhattan among added services")["Manhattan"] != {"US-TX"}


def test_words_that_only_open_sentences_give_no_vote_on_the_storys_state(gaz):
    # "Pace", "Give" and "Ask" are towns too (Pace, Florida, beside Madison County, Florida)
    text = ("The Madison County Health Department is reminding those who do choose to drink to do so "
            "responsibly. The department offers these tips: Avoid drinking too much alcohol too fast. "
            "Pace yourself. Alternate with non-alcoholic drinks. Give that person your car keys. Ask a "
            "sober friend, call a cab.")
    assert meanings(gaz, text, "Safety stressed on St. Patrick's Day")["Madison County"] == {"US-IL"}
