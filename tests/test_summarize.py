"""Extractive summaries: what a digest reader gets for real-world kinds of article."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from digest.extract import extract_html
from digest.standalone import standings
from digest.summarize import detect_language, lead, split_sentences, summarize, summarizer_key

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "sample" / "articles" / "syrian-peace-talks-astana.txt"
SEED_TITLE = "First day of Syrian peace talks end without breakthrough"

# A long wire story written for these tests; its lede carries a Reuters-style dateline.
FLOOD_STORY = """\
DHAKA (Reuters) - Floods in northern Bangladesh have forced more than 200,000 people from their homes, officials said on Wednesday, as rivers swollen by monsoon rains burst their banks.

The Brahmaputra and Teesta rivers rose above danger levels in nine districts, the disaster ministry said. Army units were deployed to help evacuate villages cut off by the water.

"We have never seen the water come this fast," said Abdul Karim, a farmer in Kurigram district. "Our rice fields are gone."

Aid agencies warned that drinking water was running short in relief camps. The World Food Programme said it was sending emergency rations to 50,000 families.

Forecasters expect more heavy rain in the coming days. The government said schools in the worst-hit districts would stay closed until the end of the month.

Bangladesh, one of the world's most densely populated countries, is hit by floods almost every year, but scientists say climate change is making them more severe.
"""

CHROME_STORY = """\
By Jane Smith and Omar Haddad

Photo: Reuters

Read more: Ten things to know about the ceasefire

BEIRUT: Lebanon's parliament elected a new president on Thursday after a two-year vacancy, ending a political deadlock that had paralysed the country's institutions.

The vote came after rival factions reached a deal brokered by regional powers. Lawmakers applauded as the speaker announced the result in the chamber.

Photo credit: AFP/Getty Images

The new president is expected to name a prime minister within weeks. Economists said the deal could unlock international aid for the struggling economy.

Read more: Lebanon's economic crisis explained

What do you think? Tell us in the comments.

Copyright 2024 Example News. All rights reserved.
"""


def seed_body() -> str:
    text = SEED.read_text(encoding="utf-8")
    return text[text.index("ASTANA:"):text.index("Courtesy :")]


def squash(text: str) -> str:
    return " ".join(text.split())


def assert_verbatim_in_order(summary: list[str], text: str) -> None:
    body = squash(text)
    positions = [body.find(sentence) for sentence in summary]
    assert all(p >= 0 for p in positions), f"not verbatim: {summary}"
    assert positions == sorted(positions), f"not in article order: {summary}"


def test_seed_summary_says_the_first_day_of_talks_ended_without_a_breakthrough() -> None:
    summary = summarize(seed_body(), title=SEED_TITLE)

    assert 1 <= len(summary) <= 2
    assert "first day of indirect talks" in summary[0]
    assert "ended on Monday without a breakthrough" in summary[0]


def test_seed_summary_trims_the_astana_dateline_for_display() -> None:
    summary = summarize(seed_body(), title=SEED_TITLE)

    assert summary[0].startswith("A first day of indirect talks")
    assert not any("ASTANA" in s for s in summary)


def test_summary_sentences_are_the_articles_own_sentences_in_article_order() -> None:
    for count in (1, 2, 3, 4):
        summary = summarize(FLOOD_STORY, title="Floods force 200,000 from homes in Bangladesh",
                            sentences=count)
        # The dateline is the only change, so compare against the text without it.
        assert_verbatim_in_order(summary, FLOOD_STORY.replace("DHAKA (Reuters) - ", ""))


def test_reuters_dateline_is_trimmed_but_the_rest_of_the_lede_is_kept() -> None:
    summary = summarize(FLOOD_STORY)

    assert summary[0].startswith("Floods in northern Bangladesh have forced")
    assert summary[0].endswith("as rivers swollen by monsoon rains burst their banks.")


@pytest.mark.parametrize("dateline", [
    "WASHINGTON, Oct 17 (AP) — ", "KABUL, Afghanistan — ", "London (Reuters) - ", "NEW YORK: ",
    # A state's abbreviation ends in a full stop that does not end the dateline; \x97 is an em dash
    # mis-decoded from cp1252, as some local feeds serve it.
    "COVINGTON, Ky. (AP) \x97 ", "BELGRADE, Minn. -- ", "SALINA, Kan. (AP) — ",
])
def test_common_dateline_styles_are_trimmed(dateline: str) -> None:
    lede = "The central bank raised interest rates by half a point on Tuesday, the biggest rise in decades."
    assert summarize(dateline + lede, sentences=1) == [lede]


def test_a_capitalised_opening_word_that_is_not_a_dateline_is_kept() -> None:
    text = "NASA launched a new telescope on Monday, the agency said, after years of delays and cost overruns."
    assert summarize(text) == [text]


def test_short_item_gets_a_one_sentence_summary() -> None:
    text = ("Japan's central bank kept interest rates unchanged on Friday. "
            "The decision was widely expected by economists. Markets barely moved.")
    summary = summarize(text, sentences=2)

    assert summary == ["Japan's central bank kept interest rates unchanged on Friday."]


def test_a_brief_of_two_full_sentences_keeps_both() -> None:
    # Local briefs of 40-60 words often give the headline's fact in their second sentence.
    text = ("All lanes of Interstate 64 East at Cross Lanes were closed on Tuesday morning because of an "
            "automobile accident, according to the county's emergency dispatch centre. "
            "By 11:35 a.m., dispatchers were reporting that all the lanes had reopened to traffic in both directions.")
    assert len(text.split()) < 60
    assert len(summarize(text, sentences=2)) == 2


def test_long_item_gets_up_to_the_requested_number_of_sentences() -> None:
    assert len(summarize(FLOOD_STORY, sentences=2)) == 2
    assert len(summarize(FLOOD_STORY, sentences=3)) == 3


def test_long_item_summary_keeps_within_the_character_budget() -> None:
    long_lede = "Officials said " + ", ".join(f"district {i} was flooded" for i in range(40)) + "."
    text = long_lede + "\n\n" + FLOOD_STORY
    summary = summarize(text, sentences=2)

    # The lede alone is over budget, so nothing else is added to it.
    assert summary == [long_lede]


def test_boilerplate_bylines_credits_and_read_more_are_never_chosen() -> None:
    summary = summarize(CHROME_STORY, title="Lebanon elects a president", sentences=6)

    assert summary, "the story has content sentences"
    assert summary[0].startswith("Lebanon's parliament elected a new president")
    for sentence in summary:
        assert not sentence.startswith(("By ", "Photo", "Read more", "What do you think", "Tell us",
                                        "Copyright"))
        assert "All rights reserved" not in sentence


# A local story written for these tests, laid out as scraped pages give it: a photo caption and its
# bracketed credit run into the article's own sentences.
CAPTIONED_STORY = (
    "Crossing guard Ana Ruiz holds a sign supporting the new contract. (Lee Park / Valley-Courier) "
    "Sam Ortiz, the district's labour board chairman, announced Friday that school crossing guards had "
    "voted 41 to 3 to join the union. The vote follows two years of talks over pay and winter hours. "
    "The district said it would begin bargaining with the union next month. (AP Photo/Valley School District) "
    "Guards in two neighbouring districts joined the same union last year."
)


@pytest.mark.parametrize("credit", [
    "(Lee Park / Valley-Courier) ", "(Lee Park / for the Valley-Courier) ", "(AP Photo/Valley School District) ",
    "(MARY LEE/Sun Media) ", "(Valley-Courier file photo) ", "Staff photo by Lee Park ", "Photo by Lee T. Park ",
])
def test_a_photo_credit_is_cut_off_the_sentence_it_opens(credit: str) -> None:
    caption, lede = ("A guard holds a sign supporting the contract.",
                     "Sam Ortiz announced Friday that school crossing guards had voted to join the union.")
    assert lead(caption + " " + credit + lede, sentences=2) == [caption, lede]


def test_the_sentence_after_a_photo_credit_is_chosen_verbatim_without_the_credit() -> None:
    # Before credits were cut, the sentence opening with one read as a parenthetical aside and was
    # never chosen: the vote itself was lost.
    summary = summarize(CAPTIONED_STORY, sentences=2)

    assert summary[1] == ("Sam Ortiz, the district's labour board chairman, announced Friday that school "
                          "crossing guards had voted 41 to 3 to join the union.")
    assert not any("Valley-Courier" in sentence or "AP Photo" in sentence for sentence in summary)


def test_a_quote_marked_with_its_original_language_is_never_chosen() -> None:
    # The sample's Wikinews story quotes the mayor's daughter in Korean, marked "((ko))".
    page = ROOT / "sample" / "pages" / "seoul-city-mayor-park-won-soon-found-dead-south-korean-polic.html"
    found = extract_html(page.read_text(encoding="utf-8"))
    summary = summarize(found.text, title=found.title, sentences=2, language="en")

    assert summary[0].startswith("Park Won-soon, the mayor of Seoul")
    assert not any("((" in sentence for sentence in summary)


def test_article_of_only_boilerplate_gives_an_empty_summary() -> None:
    assert summarize("Photo: Reuters\n\nRead more: Our coverage\n\nBy John Smith") == []



def test_a_figure_of_the_headline_is_kept_over_the_next_sentence() -> None:
    text = "\n\n".join([
        "On Thursday, the former mayor of the city, Anna Berg, retired from the council after a long career.",
        "Berg had led the council of the Northern Alliance party for many years before she retired.",
        "She was 72 years old.",
        "Berg was first elected to the council of the Northern Alliance party in the city in 1979.",
        "The council said a portrait of her would hang in the council chamber from next week.",
    ])

    assert summarize(text, sentences=2)[1].startswith("Berg had led")
    assert summarize(text, title="Former mayor Anna Berg retires aged 72", sentences=2)[1] == "She was 72 years old."


# From Wikinews (CC BY 2.5), "Francis D'Souza, former Deputy Chief Minister of Goa, dies aged 64"
# (2019-02-17, https://en.wikinews.org/wiki/Francis_D%27Souza,_former_Deputy_Chief_Minister_of_Goa,_dies_aged_64).
D_SOUZA = ("On Thursday, Francis D'Souza, previously the Deputy Chief Minister of the state of Goa, India, died. "
           "He had been suffering from cancer. He was 64 years old.\n\n"
           "D'Souza had relatively recently been dismissed from being a minister because of his health. "
           "He had advanced pancreatic cancer.\n\n"
           "Goa's government announced three days of mourning for D'Souza.")


def test_an_obituary_gives_the_age_of_the_deceased_even_without_its_headline() -> None:
    assert summarize(D_SOUZA, sentences=2)[1] == "He was 64 years old."


def test_an_age_after_a_lede_that_reports_no_death_is_no_obituarys_figure() -> None:
    retired = D_SOUZA.replace("India, died.", "India, retired.")
    assert summarize(retired, sentences=2)[1] == "He had been suffering from cancer."


def test_empty_text_gives_an_empty_summary() -> None:
    assert summarize("   ") == []


def test_a_sentence_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        summarize(FLOOD_STORY, sentences=0)


def test_headline_steers_the_choice_between_equally_central_sentences() -> None:
    text = "\n\n".join([
        "The summit opened on Monday with leaders from twenty countries in attendance and long speeches on trade.",
        "Delegates at the summit discussed trade tariffs and fishing rights for the coming years at length.",
        "Delegates at the summit also discussed trade and climate finance for poor countries, and rich nations "
        "made a pledge.",
        "The budget talks were expected to continue late into the night, officials from several delegations said.",
        "Protesters gathered outside the conference centre, calling for action on trade and fishing quotas.",
        "Police said the protest on trade and fishing was peaceful and that nobody had been arrested by the evening.",
        "Several ministers are due to hold separate meetings with business leaders on Tuesday morning.",
        "The meeting closes on Wednesday with a joint statement expected on trade, budget and other matters.",
    ])
    title = "Rich nations pledge climate finance for poor countries"

    assert summarize(text, sentences=2)[1].startswith("Delegates at the summit discussed trade tariffs")
    assert summarize(text, title=title, sentences=2)[1].startswith("Delegates at the summit also discussed")


def test_question_to_the_reader_is_passed_over() -> None:
    text = (
        "Heavy snow closed roads across the Alps on Sunday, stranding thousands of skiers in resorts.\n\n"
        "Have you been caught in the snow and what would you do if you were stranded in the mountains?\n\n"
        "Rescue teams reached the village of Zermatt by helicopter on Monday morning, the police said.\n\n"
        "Forecasters expect the snow to ease by the middle of the week, allowing roads to reopen."
    )
    assert not any(s.endswith("?") for s in summarize(text, sentences=3))


def test_unsupported_language_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    dutch = ("De regering in Den Haag heeft dinsdag een nieuw plan gepresenteerd om de woningnood aan te "
             "pakken. Volgens de minister moeten er de komende tien jaar een miljoen huizen worden gebouwd. "
             "Gemeenten krijgen daarvoor extra geld. De oppositie noemt het plan onvoldoende en wil meer "
             "sociale huurwoningen. Bouwbedrijven waarschuwen voor een tekort aan personeel en materialen. "
             "Het parlement debatteert volgende week over het voorstel van het kabinet.")
    with caplog.at_level(logging.WARNING, logger="digest.summarize"):
        summary = summarize(dutch, sentences=2, language="nl")

    assert summary and all(s in dutch for s in summary)
    assert any("language-neutral" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_undetectable_language_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    chinese = "会谈于周一结束，没有取得突破。双方代表拒绝在同一房间会面。调解人在两个代表团之间穿梭。" * 3
    with caplog.at_level(logging.WARNING, logger="digest.summarize"):
        summary = summarize(chinese, sentences=2)

    assert summary and all(s in chinese for s in summary)
    assert any("language-neutral" in r.getMessage() for r in caplog.records)


def test_supported_language_given_by_metadata_is_used_without_warning(caplog: pytest.LogCaptureFixture) -> None:
    french = ("Le gouvernement a présenté mardi un plan pour réduire la dette publique. "
              "Le ministre des finances a annoncé des économies dans plusieurs ministères. "
              "Les syndicats ont dénoncé des mesures qui touchent les plus modestes. "
              "Le texte sera examiné par les députés le mois prochain, avant un vote au Sénat. "
              "L'opposition a promis de déposer des centaines d'amendements pour ralentir le débat. "
              "Les marchés ont accueilli l'annonce avec prudence, selon plusieurs analystes.")
    with caplog.at_level(logging.WARNING, logger="digest.summarize"):
        summary = summarize(french, sentences=2, language="fr-FR")

    assert summary[0].startswith("Le gouvernement a présenté mardi")
    assert not caplog.records


@pytest.mark.parametrize(("text", "language"), [
    ("The government said on Tuesday that it would raise taxes on the richest households.", "english"),
    ("Le gouvernement a annoncé mardi qu'il allait augmenter les impôts des ménages les plus riches.", "french"),
    ("Die Regierung hat am Dienstag angekündigt, dass sie die Steuern für die reichsten Haushalte erhöht.",
     "german"),
    ("El gobierno anunció el martes que subirá los impuestos a los hogares más ricos del país.", "spanish"),
    ("会谈于周一结束，没有取得突破。双方代表拒绝在同一房间会面。调解人在两个代表团之间穿梭。", "chinese"),
    # Languages sumy lacks are recognised as themselves, not mistaken for a supported neighbour.
    ("De regering heeft dinsdag een nieuw plan gepresenteerd om de woningnood aan te pakken.", "dutch"),
    # An English story quoting one sentence in Korean is still English.
    ("Park Won-soon, the mayor of Seoul, was found dead, police reported on Friday morning. "
     "His daughter had told the police that he left home after leaving words like a will: "
     "4~5시간 전에 아버지가 유언 같은 말을 남기고 집을 나갔는데 전화기가 꺼져 있다. "
     "His phone was last active in the north-east of the city, in Seongbuk-gu, and a search "
     "with hundreds of officers and dogs went on through the night in the hills nearby.", "english"),
])
def test_language_is_detected_offline_from_the_text(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_summarizer_key_is_stable_and_names_the_settings() -> None:
    key = summarizer_key(2, None)

    assert key == summarizer_key(2, None)
    assert key != summarizer_key(3, None)
    assert summarizer_key(2, "en") == summarizer_key(2, "english")
    assert summarizer_key(2, "en") != summarizer_key(2, "fr")
    assert "/v" in key and "n=2" in key


def test_default_beats_lead3_rouge2_on_the_bbc_dev_set(shared_data: Path) -> None:
    from rouge_score import rouge_scorer

    # All 300 (about 2 s): on a 30-article sample the two are within noise of each other.
    sample = [json.loads(line) for line in
              (shared_data / "summaries-dev" / "bbc_dev.jsonl").read_text(encoding="utf-8").splitlines()]
    scorer = rouge_scorer.RougeScorer(["rouge2"], use_stemmer=True)

    def mean_rouge2(summaries: list[list[str]]) -> float:
        return sum(scorer.score("\n".join(row["reference"]), "\n".join(s))["rouge2"].fmeasure
                   for row, s in zip(sample, summaries)) / len(sample)

    ours = mean_rouge2([summarize(row["text"], title=row["title"], sentences=3, language="en") for row in sample])
    lead3 = mean_rouge2([split_sentences(row["text"], "en")[:3] for row in sample])

    assert ours >= lead3, f"default ROUGE-2 {ours:.4f} < Lead-3 {lead3:.4f}"


# --- the second sentence: new information that can stand alone ---------------------------------

def sample_page(name: str) -> tuple[str, str]:
    found = extract_html((ROOT / "sample" / "pages" / f"{name}.html").read_text(encoding="utf-8"))
    return found.text, found.title


@pytest.mark.parametrize(("page", "fact"), [
    ("iranian-cargo-plane-crashes-into-karaj-houses", "All but one of the sixteen on-board died"),
    ("state-run-bus-crashes-in-cuba-en-route-to-havana-killing-sev", "The crash reportedly killed seven."),
    ("block-of-flats-collapses-in-aleppo-killing-eleven", "killed eleven"),
])
def test_disaster_summary_gives_the_toll_in_two_sentences(page: str, fact: str) -> None:
    text, title = sample_page(page)
    summary = summarize(text, title=title, sentences=2, language="en")

    assert len(summary) == 2 and fact in summary[1]


def test_a_name_only_introduced_earlier_is_not_chosen_without_its_introduction() -> None:
    # Karaj: "… lists Saha as belonging to the Air Force …" reads as nonsense without the sentence
    # that says "Saha Airlines owned the plane".
    text, title = sample_page("iranian-cargo-plane-crashes-into-karaj-houses")
    for count in (2, 3, 4):
        summary = summarize(text, title=title, sentences=count, language="en")
        if any("lists Saha" in s for s in summary):
            assert any("Saha Airlines" in s for s in summary), summary


# A story written for these tests, in the shape of the Karol Bagh hotel fire report.
HOTEL_FIRE = """\
A hotel in the centre of the city caught fire early on Tuesday morning, trapping guests on the upper floors.

At least seventeen people died and 35 were rescued, according to officials. Firefighters sent around 30 engines.

The city's home minister said "Buildings can only be built up to four floors in this district. This hotel had been built up to six floors. It is gross negligence on the part of the officers who allowed it."

Neighbours said the building had been extended several times in the past ten years. It was popular with pilgrims and budget travellers visiting the old city and its markets.

Did the inspectors ever visit the upper floors of the building before the fire?

(The hotel's owners could not be reached for comment on Tuesday evening.)

Investigators said the blaze began in a kitchen on the ground floor. They said wooden panelling let it spread quickly up the stairwell.
"""


def test_a_sentence_from_inside_a_quotation_is_never_lifted_as_narration() -> None:
    for count in (2, 3, 4, 5):
        summary = summarize(HOTEL_FIRE, sentences=count)
        assert not any(s.startswith(("This hotel had been built", "It is gross negligence",
                                     "The city's home minister")) for s in summary), summary


def test_the_toll_in_the_second_sentence_is_kept() -> None:
    summary = summarize(HOTEL_FIRE, sentences=2)

    assert summary[0].startswith("A hotel in the centre of the city caught fire")
    assert summary[1].startswith("At least seventeen people died")


def test_questions_and_parenthetical_asides_are_never_chosen() -> None:
    for count in (2, 3, 4, 5):
        assert not any(s.endswith("?") or s.startswith("(") for s in summarize(HOTEL_FIRE, sentences=count))


def test_a_sentence_opening_with_a_pronoun_comes_only_with_the_sentence_it_leans_on() -> None:
    for count in (2, 3, 4, 5):
        summary = summarize(HOTEL_FIRE, sentences=count)
        if any(s.startswith("They said wooden panelling") for s in summary):
            assert any(s.startswith("Investigators said the blaze") for s in summary), summary
        if any(s.startswith("It was popular with pilgrims") for s in summary):
            assert any(s.startswith("Neighbours said") for s in summary), summary


def test_first_sentence_is_the_lede_whatever_the_count() -> None:
    for count in (1, 2, 3):
        assert summarize(HOTEL_FIRE, sentences=count)[0] == split_sentences(HOTEL_FIRE)[0]


# --- the fact check ------------------------------------------------------------------------------

def test_fact_check_names_a_sentence_that_is_not_the_articles() -> None:
    from digest.fact_check import FactCheckError, check

    with pytest.raises(FactCheckError, match=r"^summarize: sentence is not verbatim"):
        check(FLOOD_STORY, ["Floods in northern Bangladesh have forced nobody from their homes."],
              source="summarize")


def test_fact_check_names_a_number_the_article_does_not_give() -> None:
    from digest.fact_check import problems

    found = problems("Officials said 12 people were hurt.", ["Officials said 12 people were hurt, 3 badly."])
    assert any("numbers ['3']" in p for p in found)
    assert problems(FLOOD_STORY, summarize(FLOOD_STORY, sentences=3)) == []


@pytest.mark.parametrize("text, expected", [
    ("Twenty-one of the 1,200 staff, one's DOZENS: 3.5 or 4", {"twenty", "one", "1200", "dozens", "3.5", "4"}),
    ("Zürich: twenty-one of the 1,200 staff, one's DOZENS: 3.5 or 4", {"twenty", "one", "1200", "dozens", "3.5", "4"}),
    ("someone alone in 2nd place, x1two", {"2", "1", "two"}),
])
def test_numbers_are_digit_groups_and_whole_number_words_in_ascii_or_not(text: str, expected: set[str]) -> None:
    from digest.fact_check import numbers

    assert numbers(text) == expected


def test_every_dev_summary_is_verbatim_and_gives_only_the_articles_numbers(shared_data: Path) -> None:
    from digest.fact_check import numbers, problems

    rows = [json.loads(line) for line in
            (shared_data / "wikinews" / "articles.jsonl").read_text(encoding="utf-8").splitlines()]
    for row in rows:
        for count in (1, 2, 3):
            summary = summarize(row["text"], sentences=count, language="en")
            assert problems(row["text"], summary) == [], row["url"]
            assert numbers(" ".join(summary), None) <= numbers(row["text"], None), row["url"]


# --- cost ----------------------------------------------------------------------------------------

def test_importing_the_summarizer_does_not_import_nltk_scipy_or_requests() -> None:
    import subprocess
    import sys

    # sumy's document model and sumy.utils import `requests` (about 50 ms); pycountry is for a named language.
    code = "import sys, digest.summarize as s; s.summarize('The talks ended on Monday. Delegates left.'); " \
           "print(sorted(m for m in ('nltk', 'scipy', 'requests', 'pycountry') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]"


def test_the_summarize_command_answers_without_loading_the_configuration_or_nltk() -> None:
    import subprocess
    import sys

    # The batch command reads no digest.toml: the config models (pydantic, email validation, the
    # region table) and NLTK would only slow its first line.
    code = ("import sys; from digest.cli import app\n"
            "try:\n    app(['summarize', '--jsonl'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('digest.config', 'digest.regions', 'email_validator', 'nltk', 'scipy', "
            "'requests') "
            "if m in sys.modules), file=sys.stderr)")
    record = json.dumps({"id": 1, "title": "Talks end", "text": "The talks ended on Monday. Delegates left."})
    out = subprocess.run([sys.executable, "-c", code], input=record + "\n", capture_output=True, text=True,
                         check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout)["summary"] == ["The talks ended on Monday."]
    assert out.stderr.strip().splitlines()[-1] == "[]"


def test_the_cli_offers_the_configurations_default_path() -> None:
    # The CLI names the path itself so that the batch commands need not import digest.config.
    from digest import cli_common, config

    assert cli_common.DEFAULT_CONFIG == config.DEFAULT_CONFIG


def test_summarizer_key_is_computed_once_not_per_article(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    first = summarizer_key(2, "en")
    # Once known, the key needs no package metadata (importlib.metadata.version costs 0.4 ms a call).
    monkeypatch.setattr(importlib.metadata, "version", lambda name: pytest.fail("version() looked up again"))
    assert summarizer_key(2, "en") == first
    assert summarizer_key(7, "de") != first


# Stories written for these tests: a lede, a second sentence, then a later one with a figure.
def _story(second: str, later: str) -> str:
    lede = "The city council approved a new plan for public transport on Tuesday after a long and heated debate."
    then = "Work on the first routes is due to start in the spring, and the council will report on it each year."
    last = "Opposition members said the plan was rushed and asked for a public consultation before any work begins."
    return f"{lede}\n\n{second}\n\n{later}\n\n{then}\n\n{last}"


def test_the_articles_second_sentence_is_kept_when_it_brings_someone_new() -> None:
    second = "Mayor Anna Kowalski said the plan would make buses faster and cheaper for commuters across the city."
    later = "The plan sets aside 40 million euros for new trams, cycle lanes and bus shelters over the coming years."

    assert summarize(_story(second, later), sentences=2)[1] == second


def test_a_later_figure_replaces_a_second_sentence_that_is_background() -> None:
    second = "The debate in the chamber lasted for most of the afternoon and went on well into the evening."
    later = "The plan sets aside 40 million euros for new trams, cycle lanes and bus shelters over the coming years."

    assert summarize(_story(second, later), sentences=2)[1] == later


def test_a_time_span_is_not_a_figure_that_replaces_the_second_sentence() -> None:
    second = "The debate in the chamber lasted for most of the afternoon and went on well into the evening."
    later = "Two months later, the plan sets aside funds for new trams, cycle lanes and bus shelters over the coming years."

    assert summarize(_story(second, later), sentences=2)[1] == second


def test_an_item_of_eighty_words_gets_two_sentences() -> None:
    text = ("Flooding closed the main coastal road near the harbour town on Sunday, cutting off several villages. "
            "At least 200 homes were evacuated as the river burst its banks after three days of heavy rain. "
            "Emergency crews used boats to reach residents who had stayed behind in the lower streets of the town. "
            "Forecasters expect more rain on Monday, and the regional government has opened two shelters in schools.")

    assert len(text.split()) > 60
    assert len(summarize(text, sentences=2)) == 2


def test_a_name_glossed_in_its_original_language_keeps_its_sentence() -> None:
    # Wikinews glosses names inline: "… Law and Justice Party ((pl))Polish language: ‍Prawo i …".
    lede = ("On Sunday, the leader of the Law and Justice Party ((pl))Polish language: \u200dPrawo i "
            "Sprawiedliwość declared an intent to impose stricter punishments.")
    text = lede + "\n\nThe party said amendments to the penal code were ready and would be put to a vote soon."

    assert summarize(text, sentences=1) == [lede]


def test_a_quotation_reopened_in_a_run_on_paragraph_ends_where_its_closing_mark_is() -> None:
    # Flattened text loses the paragraph break before a quote's next paragraph, which reopens with
    # a mark: counting marks would leave everything after it inside the quotation.
    paragraph = [
        'Beckham said: "It is a relief for the club to have won.',
        '"We cannot afford to go another season without winning anything."',
        "Real's finish as runners-up means they cannot face Manchester United in the next round.",
        'The striker, who is 5\'11" tall, scored twice.',
    ]

    assert [s.alone for s in standings([paragraph], "english")] == [False, False, True, True]


@pytest.mark.parametrize("paragraph, alone", [
    (['The coach said:"We will win the league.', 'Nobody doubts it."', "The club was founded in 1901."],
     [False, False, True]),
    (['"I am [pretty happy with that]", the coach said.', "The club was founded in 1901."], [True, True]),
    (['He replied—"not this year.', 'Maybe the next."', "The club was founded in 1901."], [False, False, True]),
    # Two apostrophes for a double quote, as some local papers type it.
    (["The court found he received a \"grossly unfair trial'' because of the judge.",
      "The panel overturned his conviction last week."], [True, True]),
])
def test_a_quote_mark_opens_or_closes_by_what_stands_beside_it(paragraph: list[str], alone: list[bool]) -> None:
    assert [s.alone for s in standings([paragraph], "english")] == alone


def test_he_or_she_leans_on_the_last_sentence_naming_someone_who_could_be_a_person() -> None:
    paragraph = [
        "Radio host Don Imus died on Friday in College Station, Texas, his family reported.",
        "Associated Press reported his cause of death as complications from lung disease.",
        "He was 79.",
        "The show was simulcast on the Fox Business Network.",
        "It ended in 2015.",
    ]

    assert [sorted(s.needs) for s in standings([paragraph], "english")] == [[], [], [0], [], [3]]


def test_a_day_named_beside_a_surname_leaves_the_surname_a_person() -> None:
    paragraph = [
        "The council opened its meetings with the pledge for 12 years.",
        "Days, whose tenure ended in 2007, died Wednesday after a long illness.",
        "He was 79.",
    ]

    assert [sorted(s.needs) for s in standings([paragraph], "english")] == [[], [], [1]]


def test_a_connective_set_off_by_commas_leans_on_the_sentence_before() -> None:
    paragraph = [
        "The cruise ship limped back to its dock on Thursday after a string of technical faults.",
        "No-one, however, seems to have told the stock markets.",
        "Mr Smith, 45, said he would stay on as captain.",
    ]

    assert [sorted(s.needs) for s in standings([paragraph], "english")] == [[], [0], []]


# --- named summarizers -------------------------------------------------------------------------

def test_the_default_summarizer_is_news_and_gives_what_summarize_gives() -> None:
    from digest.summarizers import get_summarizer

    default = get_summarizer()
    assert default is get_summarizer("news")
    for count in (1, 2, 3):
        assert default.summarize(HOTEL_FIRE, "Hotel fire", count, None) == summarize(HOTEL_FIRE, "Hotel fire", count)
    assert summarizer_key(2, "en") == summarizer_key(2, "en", "news")


def test_lead_gives_the_first_content_sentences_without_dateline_or_byline() -> None:
    text = ("By Jane Smith\n\nPARIS (Reuters) - The talks ended on Monday without a deal. "
            "Delegates left the city on Tuesday.\n\nA new round is planned for spring. Observers were not surprised.")
    assert lead(text, sentences=1) == ["The talks ended on Monday without a deal."]
    assert lead(text, sentences=3) == ["The talks ended on Monday without a deal.",
                                       "Delegates left the city on Tuesday.", "A new round is planned for spring."]


@pytest.mark.parametrize("name", ["lexrank", "textrank", "lsa"])
def test_sumy_rankers_give_the_articles_own_sentences_in_article_order(name: str) -> None:
    from digest.summarizers import get_summarizer

    summary = get_summarizer(name).summarize(HOTEL_FIRE, "Hotel fire", 3, None)
    own = split_sentences(" ".join(HOTEL_FIRE.split()))
    assert len(summary) == 3
    assert sorted(summary, key=own.index) == summary


def test_each_summarizer_has_its_own_cache_key() -> None:
    from digest.summarizers import SUMMARIZERS

    keys = {summarizer_key(2, "en", name) for name in SUMMARIZERS}
    assert len(keys) == len(SUMMARIZERS)


def test_an_unknown_summarizer_is_refused_naming_those_offered() -> None:
    from digest.summarizers import get_summarizer

    with pytest.raises(ValueError, match="unknown summarizer 'pegasus'.*lead.*news"):
        get_summarizer("pegasus")


def test_the_summarize_command_uses_the_summarizer_it_is_given() -> None:
    import subprocess
    import sys

    text = ("The talks ended on Monday without a deal after two days of argument over borders and water. "
            "Delegates left. A new round of talks on the borders and the water is planned for the spring, "
            "officials said, and observers expect the borders to dominate again.")
    record = json.dumps({"id": 1, "title": "Border talks", "text": text}) + "\n"

    def run(*options: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "digest.cli", "summarize", "--jsonl", *options],
                              input=record, capture_output=True, text=True, cwd=ROOT,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})

    assert json.loads(run("--summarizer", "lead", "-n", "2").stdout)["summary"] == lead(text, sentences=2)
    assert json.loads(run("-n", "2").stdout)["summary"] == summarize(text, "Border talks", 2) != lead(text, sentences=2)
    refused = run("--summarizer", "pegasus")
    assert refused.returncode == 2 and "unknown summarizer 'pegasus'" in refused.stdout + refused.stderr
