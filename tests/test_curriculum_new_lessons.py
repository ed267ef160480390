"""Curriculum v2, the three new lessons: what they teach, pinned from the loaded catalog.

social protection (money) · the money of a gold-mining family (money) · the birth certificate
(child-labour). The sums of the examples are recomputed from the French text, so a changed figure
that no longer adds up fails here; the facts (free registration, weigh in front of you, no mercury
at home, 30 days, the certificate for the DEF) fail if the text drifts.
"""

from __future__ import annotations

import re

import pytest

from content.loader import COURSES_DIR, load_catalog
from content.model import LANGUAGES, Chunk, Question

CATALOG = load_catalog(COURSES_DIR)

NEW_LESSONS = [
    ("money", "social-protection", "saving-a-little"),
    ("money", "gold-mining-household-money", "school-costs-and-income"),
    ("child-labour", "birth-registration", "who-to-tell"),
]


def _lesson(course_id: str, lesson_id: str):
    return CATALOG.lesson(course_id, lesson_id)


def _item(course_id: str, lesson_id: str, item_id: str):
    lesson = _lesson(course_id, lesson_id)
    return lesson.items[lesson.item_index(item_id)]


def _chunk(course_id: str, lesson_id: str, item_id: str, lang: str = "fr") -> str:
    chunk = _item(course_id, lesson_id, item_id)
    assert isinstance(chunk, Chunk), item_id
    return chunk.body.text(lang)


def _answer(course_id: str, lesson_id: str, question_id: str) -> str:
    question = _item(course_id, lesson_id, question_id)
    assert isinstance(question, Question), question_id
    return question.correct_option.label["fr"]


def _francs(text: str) -> list[int]:
    """The amounts of a French text, in order: ``100 000 francs`` → 100000 (numbers under 100 skipped)."""
    return [n for n in (int(m.replace(" ", "")) for m in re.findall(r"\d{1,3}(?: \d{3})+|\d+", text)) if n >= 100]


@pytest.mark.parametrize(("course_id", "lesson_id", "after"), NEW_LESSONS, ids=[n[1] for n in NEW_LESSONS])
def test_new_lessons_come_after_the_v1_lessons_and_are_drafts(course_id, lesson_id, after):
    ids = [lsn.id for lsn in CATALOG.course(course_id).lessons]
    assert ids.index(lesson_id) > ids.index(after)
    lesson = _lesson(course_id, lesson_id)
    assert lesson.review == {lang: "draft" for lang in LANGUAGES}
    assert len(lesson.questions) >= 3


# --- social protection -------------------------------------------------------------------------------


def test_registration_for_help_is_free_and_nobody_may_charge_for_a_list():
    free = _chunk("money", "social-protection", "free-and-where")
    assert "L'inscription est gratuite" in free
    assert "Personne n'a le droit de vous demander de l'argent" in free
    assert "mairie" in free and "développement social" in free
    assert "fu ye" in _chunk("money", "social-protection", "free-and-where", "bm")  # "is free"
    assert _answer("money", "social-protection", "pay-for-the-list") == "Refuser et le dire"
    assert _answer("money", "social-protection", "where-to-ask") == "Demander à la mairie"


def test_where_to_ask_carries_the_contacts_sentence():
    """{contacts} is filled when loading: with no number configured, the fallback sentence."""
    free = _chunk("money", "social-protection", "free-and-where")
    assert "{contacts}" not in free
    assert "demandez à l'agent de terrain" in free


def test_the_schemes_are_named_as_checked():
    lesson = _lesson("money", "social-protection")
    said = " ".join(i.body.text("fr") for i in lesson.items if isinstance(i, Chunk))
    for name in ("Jigisemejiri", "RAMED", "AMO", "RAMU", "Registre social unifié", "mutuelle"):
        assert name in said, name
    assert not re.search(r"\bAMU\b", said), "the universal scheme is the RAMU (law of 2018), not 'AMU'"
    assert _answer("money", "social-protection", "who-gets-ramed") == "Les plus pauvres"


def test_the_social_protection_lesson_promises_no_amount_of_aid():
    """Transfer amounts change with each programme phase: the chunks name none (the only sum in the
    lesson is the bribe of the question)."""
    lesson = _lesson("money", "social-protection")
    for chunk in (i for i in lesson.items if isinstance(i, Chunk)):
        assert _francs(chunk.body.text("fr")) == [], chunk.id
    assert _francs(_item("money", "social-protection", "pay-for-the-list").prompt.text("fr")) == [5000]


# --- money of a gold-mining family ---------------------------------------------------------------------


def test_the_good_week_is_shared_out_exactly():
    text = _chunk("money", "gold-mining-household-money", "good-weeks")
    earned, kept, weekly, saved = _francs(text)
    assert (earned, kept, weekly, saved) == (100_000, 90_000, 15_000, 10_000)
    assert kept + saved == earned
    assert kept // weekly == 6 and kept % weekly == 0
    assert "six semaines" in text
    assert "par exemple" in text  # mine earnings are an example, not a promise


def test_six_weeks_question_matches_its_own_figures():
    question = _item("money", "gold-mining-household-money", "six-weeks")
    kept, weekly = _francs(question.prompt.text("fr").split("?")[0])
    assert kept // weekly == 6
    assert question.correct_option.label["fr"] == "Six semaines"
    assert "six semaines" in question.feedback_wrong.text("fr")


def test_selling_gold_fairly():
    text = _chunk("money", "gold-mining-household-money", "selling-fairly")
    assert "prix du gramme" in text and "change chaque jour" in text
    assert "Faites peser l'or devant vous" in text
    assert "Ne vendez pas à crédit à un inconnu" in text
    better, worse, gap = _francs(text)
    assert "deux grammes" in text and (better - worse) * 2 == gap == 10_000
    assert _answer("money", "gold-mining-household-money", "weigh-in-front") == "Peser devant lui"


def test_no_mercury_at_home_and_what_it_harms():
    text = _chunk("money", "gold-mining-household-money", "without-mercury")
    for harm in ("cerveau", "reins", "bébé"):
        assert harm in text, harm
    assert "sans mercure" in text
    assert "on ne chauffe jamais le mélange à la maison" in text
    assert "femmes enceintes restent loin" in text
    assert _answer("money", "gold-mining-household-money", "amalgam-at-home") == "Non, jamais à la maison"


# --- birth certificate -----------------------------------------------------------------------------------


def test_the_certificate_proves_the_age():
    text = _chunk("child-labour", "birth-registration", "proof-of-age")
    assert "Il prouve son âge" in text
    young, claimed = (int(n) for n in re.search(r"de (\d+) ans en a (\d+)", text).groups())
    assert young < 15 <= claimed  # the course's minimum age for a job is 15 (ages-that-matter)
    assert _answer("child-labour", "birth-registration", "who-is-sixteen") == "Son acte de naissance"


def test_the_certificate_is_needed_for_the_def_exam():
    text = _chunk("child-labour", "birth-registration", "school-and-rights")
    assert "examens" in text and "DEF" in text
    assert "DEF" in _chunk("child-labour", "birth-registration", "school-and-rights", "bm")
    assert _answer("child-labour", "birth-registration", "def-papers") == "Non, l'acte de naissance"


def test_thirty_days_free_then_a_jugement_supplétif():
    """Code des personnes et de la famille (loi 2011-087, art. 133): 30 jours francs; after, a jugement
    supplétif."""
    fr = _chunk("child-labour", "birth-registration", "how-to-declare")
    bm = _chunk("child-labour", "birth-registration", "how-to-declare", "bm")
    assert "dans les 30 jours" in fr and "tile bisaba" in bm  # thirty days
    assert "c'est gratuit" in fr and "fu ye" in bm
    assert "jugement supplétif" in fr and "jugement supplétif" in bm
    assert not re.search(r"\b(?!30\b)\d+ jours", fr), "one time limit only"
    assert _answer("child-labour", "birth-registration", "seven-years-old") == "Un jugement supplétif"
    late = _item("child-labour", "birth-registration", "seven-years-old")
    assert "30 jours" in late.feedback_correct.text("fr")
