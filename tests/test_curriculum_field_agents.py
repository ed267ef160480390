"""The field-agents course (agents and community relays who meet families): what it teaches, pinned.

tests/test_curriculum.py checks the shape every course shares; this file checks this course's facts, read
from the loaded catalog so that a drifting text fails here.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from content.loader import COURSES_DIR, load_catalog
from content.model import Chunk, Question, localized_texts, native_review_marks
from core.config import load_settings

CATALOG = load_catalog(COURSES_DIR)
COURSE = CATALOG.course("field-agents")
COURSE_FILE = Path(COURSES_DIR) / "field-agents.yaml"
LESSON_IDS = [
    "recognising-child-labour",
    "talking-without-blame",
    "referral-path",
    "confidentiality",
    "following-up-a-case",
]


def item(lesson_id: str, item_id: str):
    lesson = COURSE.lesson(lesson_id)
    return lesson.items[lesson.item_index(item_id)]


def chunk_text(lesson_id: str, item_id: str, lang: str = "fr") -> str:
    found = item(lesson_id, item_id)
    assert isinstance(found, Chunk)
    return found.body.text(lang)


def test_five_lessons_between_a_pre_test_and_a_post_test():
    assert [lsn.id for lsn in COURSE.lessons] == ["pre-test", *LESSON_IDS, "post-test"]
    assert [lsn.id for lsn in COURSE.teaching] == LESSON_IDS
    assert COURSE.topic == CATALOG.course("child-labour").topic
    assert COURSE.title.text("fr") == "Pour les agents et relais communautaires"


@pytest.mark.parametrize("lesson_id", LESSON_IDS)
def test_each_lesson_teaches_first_then_asks_three_questions_and_is_a_draft(lesson_id):
    lesson = COURSE.lesson(lesson_id)
    chunks = [i for i in lesson.items if isinstance(i, Chunk)]
    assert isinstance(lesson.items[0], Chunk)
    assert 3 <= len(chunks) <= 4
    assert len(lesson.questions) >= 3
    assert lesson.review == {"fr": "draft", "bm": "draft"}


# What an agent learns, pinned: (lesson, question, the correct option in French).
FACTS = [
    ("recognising-child-labour", "light-work-at-thirteen", "Travaux légers hors classe"),
    ("recognising-child-labour", "which-sign", "Seydou, au site d'orpaillage"),
    ("recognising-child-labour", "sixteen-at-night", "Non"),  # under 18: no heavy loads, no night work
    ("talking-without-blame", "first-words", "Saluer et écouter"),
    ("talking-without-blame", "both-parents", "Le père et la mère"),
    ("talking-without-blame", "debt-solution", "AVEC, kit, aides"),
    ("referral-path", "pit-today", "Prévenir le jour même"),
    ("referral-path", "missing-school", "La famille, puis le comité"),  # no danger now: no gendarmerie first
    ("referral-path", "rumour-or-fact", "Ce que j'ai vu moi-même"),
    ("confidentiality", "neighbour-asks", "Je ne peux pas en parler"),
    ("confidentiality", "photo-on-whatsapp", "Non, pas de photo"),
    ("confidentiality", "tell-the-child", "Expliquer et l'écouter"),
    ("following-up-a-case", "check-school", "Demander au maître"),
    ("following-up-a-case", "nothing-changed", "Noter et rappeler le service"),
    ("following-up-a-case", "when-to-close", "Sûre et à l'école"),
]


@pytest.mark.parametrize(("lesson_id", "question_id", "answer"), FACTS, ids=[f[1] for f in FACTS])
def test_facts_the_lessons_teach(lesson_id, question_id, answer):
    question = item(lesson_id, question_id)
    assert isinstance(question, Question)
    assert question.correct_option.label["fr"] == answer


def test_every_lesson_question_is_pinned():
    asked = {(lsn.id, q.id) for lsn in COURSE.teaching for q in lsn.questions}
    assert asked == {(lesson, question) for lesson, question, _ in FACTS}


# The pre-/post-test: (question, the correct option, the lesson it checks, a phrase both teach).
TEST_FACTS = [
    ("q-father-in-the-pit", "Non", "recognising-child-labour", "dix-huit ans"),
    ("q-name-at-the-meeting", "Non, en privé", "talking-without-blame", "réunion du village"),
    ("q-child-far-from-home", "Prévenir les services aujourd'hui", "referral-path", "loin de sa famille"),
    ("q-photo-for-the-file", "Non, des faits écrits", "confidentiality", "faits écrits"),
    ("q-case-after-first-visit", "Non, revenir vérifier", "following-up-a-case", "une semaine"),
]


def test_the_pre_test_and_the_post_test_ask_the_same_five_questions():
    pre, post = COURSE.test("pretest"), COURSE.test("posttest")
    assert pre is COURSE.lessons[0] and post is COURSE.lessons[-1]
    assert [q.id for q in pre.questions] == [q.id for q in post.questions] == [t[0] for t in TEST_FACTS]
    assert pre.review == post.review == {"fr": "draft", "bm": "draft"}


@pytest.mark.parametrize(("question_id", "answer", "lesson_id", "phrase"), TEST_FACTS, ids=[t[0] for t in TEST_FACTS])
def test_the_test_checks_each_lesson_with_a_new_question(question_id, answer, lesson_id, phrase):
    question = next(q for q in COURSE.test("pretest").questions if q.id == question_id)
    assert question.correct_option.label["fr"] == answer
    said = " ".join(t.text("fr") for t in (question.prompt, question.feedback_correct, question.feedback_wrong))
    assert phrase in said
    lesson = COURSE.lesson(lesson_id)
    assert any(phrase in i.body.text("fr") for i in lesson.items if isinstance(i, Chunk)), (lesson_id, phrase)
    for q in (q for lsn in COURSE.teaching for q in lsn.questions):  # the same fact, never the same question
        assert q.id != question.id
        for lang in ("fr", "bm"):
            assert q.prompt.text(lang) != question.prompt.text(lang)


def test_the_right_answer_is_not_always_on_the_same_key():
    lesson_keys = Counter(q.correct_option.key for lsn in COURSE.teaching for q in lsn.questions)
    assert set(lesson_keys) >= {"1", "2"}
    assert max(lesson_keys.values()) <= 0.6 * sum(lesson_keys.values()), lesson_keys
    test_keys = Counter(q.correct_option.key for q in COURSE.test("pretest").questions)
    assert set(test_keys) == {"1", "2"}


# Real misconceptions the wrong options carry: each is offered somewhere, and never as the right answer.
MISCONCEPTIONS = [
    "avec un adulte",  # any work is fine if an adult watches
    "avec son père",  # a 14-year-old may go down the pit with his father
    "plus de quinze ans",  # after 15 everything is allowed
    "sanctions",  # open with the law and the penalties
    "Le père seulement",
    "Menacer",
    "La gendarmerie",  # the gendarmerie first, even when there is no danger now
    "Attendre",
    "Ce qu'on m'a dit",  # a rumour in the report
    "honte",  # shaming the parents makes them change
    "Raconter",
    "alerter",  # a photo on WhatsApp alerts the village
    "preuve",  # a photo helps the file
    "Rien, affaire d'adultes",
    "parole du père",
    "Laisser tomber",
    "promis",  # the case closes on a promise
    "promesse",
]


def test_misconceptions_are_offered_and_never_right():
    options = [o for lsn in COURSE.lessons for q in lsn.questions for o in q.options]
    for wrong in MISCONCEPTIONS:
        offered = [o for o in options if wrong in o.label["fr"]]
        assert offered, wrong
        assert not any(o.correct for o in offered), wrong


AGES_BM = ["san tan ni duuru", "san tan ni saba", "san tan ni naani", "san tan ni seegin"]


def test_the_ages_and_dangers_match_the_child_labour_course():
    ages = chunk_text("recognising-child-labour", "the-ages")
    assert "Avant quinze ans, pas d'emploi" in ages
    assert "À treize et quatorze ans" in ages and "travaux légers" in ages
    assert "jamais pendant les heures de classe" in ages
    assert "Avant dix-huit ans, aucun travail dangereux" in ages
    for danger in ("puits de mine", "mercure", "pesticides", "lourdes charges", "la nuit"):
        assert danger in ages, danger
    ages_bm = chunk_text("recognising-child-labour", "the-ages", "bm").lower()
    assert all(age in ages_bm for age in AGES_BM)
    # the child-labour course says the same ages (ILO C138 as Mali declared it, C182)
    rules = CATALOG.lesson("child-labour", "ages-that-matter")
    assert rules.items[rules.item_index("age-for-a-job")].correct_option.label["fr"] == "15 ans"
    the_rules = rules.items[rules.item_index("the-rules")].body.text("fr").lower()
    assert "avant quinze ans, pas d'emploi" in the_rules and "avant dix-huit ans, aucun travail dangereux" in the_rules
    seydou = rules.items[rules.item_index("seydou-pit")]
    assert "dix-sept ans" in seydou.prompt.text("fr") and seydou.correct_option.label["fr"] == "Non"


def test_helping_at_home_is_not_reported_as_child_labour():
    help_text = chunk_text("recognising-child-labour", "help-at-home")
    assert "Aider sa famille n'est pas un mal" in help_text
    signs = chunk_text("recognising-child-labour", "signs-to-notice")
    assert "Un signe seul ne prouve rien" in signs
    which = item("recognising-child-labour", "which-sign")
    awa = next(o for o in which.options if o.label["fr"].startswith("Awa"))
    assert not awa.correct


def test_talking_without_blame_listens_first_and_offers_solutions():
    listen = chunk_text("talking-without-blame", "listen-first")
    assert listen.startswith("Quand vous visitez une famille, écoutez d'abord.")
    for reason in ("pauvreté", "dette", "soudure"):
        assert reason in listen
    assert "le père et la mère" in listen
    assert "Ne menacez jamais" in chunk_text("talking-without-blame", "speak-of-the-child")
    solutions = chunk_text("talking-without-blame", "propose-solutions")
    for solution in ("AVEC", "kit scolaire", "service social", "prochaine visite"):
        assert solution in solutions


NUMBERS = {"child_protection": "20 22 33 44", "labour_inspection": "20 22 55 66", "police_children": "80 00 11 22"}


def _raw_texts(node, where=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _raw_texts(value, f"{where}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from _raw_texts(value, f"{where}/{value.get('id', n) if isinstance(value, dict) else n}")
    elif isinstance(node, str):
        yield where, node


def test_the_referral_path_gives_numbers_only_through_contacts():
    raw = COURSE_FILE.read_text(encoding="utf-8")
    assert not re.search(r"\d{2}[ .]?\d{2}[ .]?\d{2}[ .]?\d{2}|\+223", raw)
    with_placeholder = {where for where, text in _raw_texts(yaml.safe_load(raw)) if "{contacts}" in text}
    danger_now = "/lessons/referral-path/items/danger-now/text"
    assert with_placeholder == {f"{danger_now}/{part}" for part in ("fr", "bm", "sms/fr", "sms/bm")}
    filled = load_catalog(COURSES_DIR, NUMBERS).lesson("field-agents", "referral-path")
    chunk = filled.items[filled.item_index("danger-now")]
    for number in NUMBERS.values():
        assert number in chunk.body.text("fr") and number in chunk.body.text("bm")
        assert number in chunk.body.sms_text("fr") and number in chunk.body.sms_text("bm")
    assert "service de protection de l'enfant et de la famille, 20 22 33 44" in chunk.body.text("fr")
    assert "baara kɔlɔsili baarada, 20 22 55 66" in chunk.body.text("bm")


def test_the_referral_path_names_the_services_for_a_child_in_danger_now():
    urgent = chunk_text("referral-path", "danger-now")
    for case in ("puits de mine", "mercure", "frappé", "loin de sa famille"):
        assert case in urgent, case
    assert "le jour même" in urgent
    for service in ("protection de l'enfant", "inspection du travail", "gendarmerie, service des mineurs"):
        assert service in urgent, service
    urgent_bm = chunk_text("referral-path", "danger-now", "bm")
    for service in ("lakanani baarada", "baara kɔlɔsili baarada", "polisi walima zandaramari"):
        assert service in urgent_bm, service
    not_urgent = chunk_text("referral-path", "not-urgent")
    assert "comité villageois de protection de l'enfant" in not_urgent and "développement social" in not_urgent
    notes = chunk_text("referral-path", "write-what-you-saw")
    for fact in ("la date", "le lieu", "l'âge de l'enfant", "le danger", "Pas de rumeurs"):
        assert fact in notes, fact


PHOTO_TAKING = re.compile(r"\b(prenez|prendre|prends|envoyez|publiez)\s+(une|la|des)\s+photos?\b", re.IGNORECASE)


def test_no_text_teaches_taking_photos_or_sharing_a_childs_name():
    for where, text in localized_texts(COURSE):
        for lang in ("fr", "bm"):
            assert not PHOTO_TAKING.search(text.text(lang)), where
    assert "Ne prenez pas de photo de l'enfant" in chunk_text("confidentiality", "no-photos")
    who = chunk_text("confidentiality", "who-may-know")
    assert "seulement avec les services qui l'aident" in who
    assert "Jamais au village, au marché ou au grin, ni sur WhatsApp ou Facebook" in who
    for lsn in COURSE.lessons:
        for q in lsn.questions:
            if re.search(r"photo|WhatsApp", q.prompt.text("fr")):
                assert q.correct_option.label["fr"].startswith("Non"), q.id
    consent = chunk_text("confidentiality", "consent-and-parents")
    assert "Écoutez son avis et demandez son accord" in consent and "Informez aussi ses parents" in consent
    assert "prévenez les services même sans son accord" in consent  # a child in danger is protected anyway


def test_a_case_is_followed_up_and_closed_only_when_the_child_is_safe_and_at_school():
    back = chunk_text("following-up-a-case", "go-back")
    assert back.startswith("Une visite ne suffit pas. Revenez une semaine plus tard")
    assert "dɔgɔkun kelen kɔfɛ" in chunk_text("following-up-a-case", "go-back", "bm")
    assert "rappelez le service qui suit le cas" in chunk_text("following-up-a-case", "write-it-down")
    close = chunk_text("following-up-a-case", "close-the-case")
    assert close.startswith("Un cas se ferme seulement quand l'enfant est en sécurité, qu'il va à l'école")
    assert "Une promesse ne suffit pas." in close


def test_the_doubtful_bambara_is_marked_for_a_native_reader():
    marks = native_review_marks(COURSE)
    assert len(marks) >= 20
    where = [w for w, _ in marks]
    for lesson_id in LESSON_IDS:
        assert any(f"› {lesson_id}" in w for w in where), lesson_id
    referral = COURSE.lesson("referral-path").native_review
    assert any("refer" in note for note in referral)
    assert any("confidentiality" in note for note in COURSE.lesson("confidentiality").native_review)


def test_every_lesson_and_test_stays_within_the_sms_budget():
    from sms.authoring import lesson_costs

    settings = load_settings({"SMS_TRANSLITERATE": "on", "SMS_MAX_SEGMENTS": "3"})
    costs = [c for c in lesson_costs(CATALOG, settings) if c.course_id == "field-agents"]
    assert [c.lesson_id for c in costs] == [lsn.id for lsn in COURSE.lessons]
    for c in costs:
        assert max(c.segments.values()) <= 14, (c.lesson_id, c.segments)


def test_a_right_no_is_not_greeted_with_yes():
    for lsn in COURSE.lessons:
        for q in lsn.questions:
            right = q.correct_option.label
            if right["fr"].startswith("Non") or right["fr"].startswith("Je ne"):
                for lang, yes in (("fr", "Oui"), ("bm", "Ɔwɔ")):
                    assert not q.feedback_correct.text(lang).startswith(yes), (q.id, lang)
                    assert not q.feedback_correct.sms_text(lang).startswith(yes), (q.id, lang)
