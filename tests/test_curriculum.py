"""The shipped curriculum: shape, facts, amounts, and every lesson walked through the engine."""

from __future__ import annotations

import re

import pytest

from content.loader import COURSES_DIR, load_catalog
from content.model import LANGUAGES, Chunk, Question, localized_texts, native_review_marks
from core.contacts import CONTACTS
from engine import AskQuestion, Continue, Digits, Feedback, SayChunk, Start, Text, advance, start_bookmark

CATALOG = load_catalog(COURSES_DIR)
LESSONS = [(course, lesson) for course in CATALOG for lesson in course.lessons]
LESSON_IDS = [f"{c.id}/{lsn.id}" for c, lsn in LESSONS]
TEACHING = [(course, lesson) for course, lesson in LESSONS if not lesson.is_test]
TEACHING_IDS = [f"{c.id}/{lsn.id}" for c, lsn in TEACHING]


def test_three_courses_each_with_five_lessons_or_more_between_a_pre_test_and_a_post_test():
    assert [c.id for c in CATALOG] == ["child-labour", "field-agents", "money"]  # file order
    for course in CATALOG:
        assert len(course.teaching) >= 5, course.id
        assert [x.kind for x in course.lessons] == ["pretest", *["lesson"] * len(course.teaching), "posttest"]
        pre, post = course.test("pretest"), course.test("posttest")
        assert 4 <= len(pre.questions) <= 6 and pre.questions == post.questions


def test_test_questions_ask_what_the_lessons_teach_without_copying_their_questions():
    for course in CATALOG:
        asked = {q.prompt.text(lang) for lesson in course.teaching for q in lesson.questions for lang in LANGUAGES}
        for q in course.test("pretest").questions:
            assert not {q.prompt.text(lang) for lang in LANGUAGES} & asked, (course.id, q.id)


@pytest.mark.parametrize(("course", "lesson"), TEACHING, ids=TEACHING_IDS)
def test_each_lesson_has_two_to_five_chunks_and_three_questions(course, lesson):
    chunks = [i for i in lesson.items if isinstance(i, Chunk)]
    assert 2 <= len(chunks) <= 5
    assert len(lesson.questions) >= 3
    assert set(lesson.review) == set(LANGUAGES)
    assert isinstance(lesson.items[0], Chunk), "a lesson starts by teaching"


@pytest.mark.parametrize(("course", "lesson"), TEACHING, ids=TEACHING_IDS)
def test_chunks_are_short_enough_for_a_phone_call(course, lesson):
    for chunk in (i for i in lesson.items if isinstance(i, Chunk)):
        words = len(chunk.body.text("fr").split())
        assert 25 <= words <= 100, (chunk.id, words)  # ~150 words a minute: under about 45 s
        assert len(chunk.body.text("bm").split()) <= 120, chunk.id


def test_a_test_intro_is_short_and_says_what_is_coming():
    for course in CATALOG:
        for kind in ("pretest", "posttest"):
            intro = course.test(kind).items[0]
            assert isinstance(intro, Chunk) and intro.id == "intro"
            assert 8 <= len(intro.body.text("fr").split()) <= 60, (course.id, kind)


PAUSE = re.compile(r"(?<=[.?!:;])\s+")


def test_sentences_are_short_enough_to_follow_by_ear():
    """About 20 words between two pauses (the review's rule: a sentence, or the part before or after a colon)."""
    long = []
    for course in CATALOG:
        for where, text in localized_texts(course):
            for part in PAUSE.split(text.text("fr")):
                if len(part.split()) > 24:
                    long.append((where, part))
    assert long == []


def test_no_lesson_is_marked_reviewed_in_bambara_while_a_native_review_mark_is_open():
    for course in CATALOG:
        marked = {where.split(" › ")[1] for where, _ in native_review_marks(course)}
        for lesson in course.lessons:
            if lesson.review["bm"] == "reviewed":
                assert lesson.id not in marked, (course.id, lesson.id)


def test_doubtful_bambara_is_marked_for_a_native_reader():
    marks = [m for course in CATALOG for m in native_review_marks(course)]
    assert len(marks) >= 20
    assert all(len(note) >= 10 for _, note in marks)


@pytest.mark.parametrize(("course", "lesson"), LESSONS, ids=LESSON_IDS)
def test_questions_say_their_keys_and_options_are_short(course, lesson):
    for q in lesson.questions:
        for option in q.options:
            assert f"tapez {option.key}" in q.prompt.text("fr"), (q.id, option.key)
            assert f"i ka {option.key} digi" in q.prompt.text("bm"), (q.id, option.key)
            for lang in LANGUAGES:
                assert len(option.label[lang]) <= 40, (q.id, option.label[lang])
        assert f"tapez {len(q.options) + 1}" not in q.prompt.text("fr"), q.id
        wrong = q.feedback_wrong.text("fr")
        assert len(wrong.split()) >= 8, f"{q.id}: wrong-answer feedback must teach, not just say 'wrong'"


OLD_SPELLINGS = re.compile(r"[èòÈÒ]|\bny|ng\b")


def test_bambara_uses_the_official_orthography():
    for course in CATALOG:
        for where, text in localized_texts(course):
            bm = text.text("bm")
            assert not OLD_SPELLINGS.search(bm), (where, bm)
    assert any(
        "ɛ" in t.text("bm") and "ɔ" in t.text("bm") for t in (x for _, x in localized_texts(CATALOG.course("money")))
    )


def test_no_phone_number_is_written_in_the_courses():
    """Numbers to call are settings (KALANSO_CONTACT_*), never text a listener could act on wrongly."""
    for path in COURSES_DIR.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\d{2} \d{2} \d{2} \d{2}|\+223|\d{8}", text), path.name
    who = CATALOG.lesson("child-labour", "who-to-tell")
    useful = next(i for i in who.items if i.id == "useful-numbers")
    assert "{contacts}" not in useful.body.text("fr")  # filled: no setting here, so the fallback sentence
    assert "demandez à l'agent de terrain" in useful.body.text("fr")


# What a listener learns, pinned: (course, lesson, question, the correct option in French).
FACTS = [
    ("child-labour", "what-is-child-labour", "awa-at-the-mine", "Oui"),
    ("child-labour", "what-is-child-labour", "moussa-saturday", "Non"),
    ("child-labour", "ages-that-matter", "age-for-a-job", "15 ans"),  # C138, Mali's declaration
    ("child-labour", "ages-that-matter", "seydou-pit", "Non"),  # C182: no hazardous work under 18
    ("child-labour", "ages-that-matter", "aminata-chickens", "Oui"),  # light help, no harm to school
    ("child-labour", "dangers-in-gold-mining", "mercury-fumes", "Loin"),
    ("child-labour", "ages-that-matter", "kadiatou-school-hours", "Non, pas pendant l'école"),  # light work 13-14
    ("child-labour", "decent-work-15-17", "adama-sacks", "Non, c'est dangereux"),  # 15-17: no hazardous work
    ("child-labour", "decent-work-15-17", "who-pays-gloves", "Le patron"),
    ("child-labour", "decent-work-15-17", "mariam-sweeping", "Non, apprendre le métier"),
    ("child-labour", "dangers-in-gold-mining", "biggest-danger", "Non, les sacs aussi"),
    ("child-labour", "dangers-in-cotton", "oumou-spraying", "Il traite seul, Oumou loin"),  # the adult acts
    ("child-labour", "dangers-in-cotton", "empty-can", "Rincer, percer, rapporter"),  # FAO: triple rinse, collect
    ("child-labour", "who-to-tell", "urgent-case", "Service social, police"),
    ("money", "saving-a-little", "ten-weeks", "5 000 francs"),
    ("money", "harvest-year-budget", "monthly-share", "25 000 francs"),  # (600 000 - 300 000 of shares) / 12
    ("money", "savings-group", "tontine-pot", "10 000 francs"),
    ("money", "savings-group", "three-keys", "En réunion, devant tous"),
    ("money", "lead-a-savings-group", "who-elects", "Tous les membres, par un vote"),
    ("money", "borrowing-safely", "interest-amount", "6 000 francs"),  # total cost: interest and fees
    ("money", "borrowing-safely", "repayment-timing", "Une fois, après la vente"),
    ("money", "borrowing-safely", "new-loan", "Parler à la caisse"),
    ("money", "mobile-money-safely", "pin-call", "Refuser"),
    ("money", "school-costs-and-income", "three-children", "45 000 francs"),
]


@pytest.mark.parametrize(("course_id", "lesson_id", "question_id", "answer"), FACTS, ids=[f[2] for f in FACTS])
def test_facts_the_quiz_teaches(course_id, lesson_id, question_id, answer):
    lesson = CATALOG.lesson(course_id, lesson_id)
    question = lesson.items[lesson.item_index(question_id)]
    assert isinstance(question, Question)
    assert question.correct_option.label["fr"] == answer


def test_the_ids_other_parts_rely_on_are_kept():
    what = CATALOG.lesson("child-labour", "what-is-child-labour")
    assert [i.id for i in what.items[:2]] == ["help-or-harm", "awa-at-the-mine"]
    assert what.items[1].correct_option.key == "1"
    saving = CATALOG.lesson("money", "saving-a-little")
    assert [i.id for i in saving.items[:2]] == ["small-sums", "ten-weeks"]
    ten_weeks = saving.items[1]
    assert len(ten_weeks.options) == 3 and ten_weeks.correct_option.key == "2"
    assert ten_weeks.correct_option.label["fr"] == "5 000 francs"


# --- amounts: Bambara counts money in dɔrɔmɛ (5 FCFA) -----------------------------------------------

UNITS = {"kelen": 1, "fila": 2, "saba": 3, "naani": 4, "duuru": 5, "wɔɔrɔ": 6, "wolonwula": 7, "seegin": 8}
UNITS["kɔnɔntɔn"] = 9
TENS = {"tan": 10, "mugan": 20, "bisaba": 30, "binaani": 40, "biduuru": 50, "biwɔɔrɔ": 60}
NUMBER_WORDS = {*UNITS, *TENS, "kɛmɛ", "waa", "ni"}


def _below_thousand(words: list[str]) -> int:
    total, i = 0, 0
    while i < len(words):
        w = words[i]
        if w == "kɛmɛ":
            count = UNITS.get(words[i + 1], 0) if i + 1 < len(words) else 0
            total += 100 * (count or 1)
            i += 2 if count else 1
        elif w in TENS:
            total += TENS[w]
            i += 1
        elif w in UNITS:
            total += UNITS[w]
            i += 1
        else:  # "ni"
            i += 1
    return total


def bambara_number(words: list[str]) -> int:
    """``waa mugan ni kelen ni kɛmɛ wɔɔrɔ`` → 21 600; the thousands run until ``ni kɛmɛ``."""
    if words and words[0] == "waa":
        rest = words[1:]
        cut = next((k for k in range(1, len(rest)) if rest[k] == "kɛmɛ" and rest[k - 1] == "ni"), len(rest))
        return 1000 * _below_thousand(rest[:cut]) + _below_thousand(rest[cut:])
    return _below_thousand(words)


def bambara_amounts(text: str) -> list[int]:
    """Every ``dɔrɔmɛ …`` amount of a Bambara text, in FCFA."""
    words = re.findall(r"[\wɛɔɲŋ]+", text.lower())
    out = []
    for n, word in enumerate(words):
        if word == "dɔrɔmɛ":
            run = []
            for w in words[n + 1 :]:
                if w not in NUMBER_WORDS:
                    break
                run.append(w)
            while run and run[-1] == "ni":
                run.pop()
            out.append(5 * bambara_number(run))
    return out


def french_numbers(text: str) -> set[int]:
    return {int(m.replace(" ", "")) for m in re.findall(r"\d{1,3}(?: \d{3})*", text)}


@pytest.mark.parametrize(
    ("words", "value"),
    [
        ("kɛmɛ", 100),
        ("kɛmɛ fila", 200),
        ("waa kelen", 1000),
        ("waa tan", 10_000),
        ("waa kɛmɛ ni mugan", 120_000),
        ("waa mugan ni kelen ni kɛmɛ wɔɔrɔ", 21_600),
        ("waa saba ni kɛmɛ wɔɔrɔ", 3_600),
    ],
)
def test_bambara_number_reader(words, value):
    assert bambara_number(words.split()) == value


def test_every_bambara_amount_matches_the_french():
    checked = 0
    for course in CATALOG:
        texts = list(localized_texts(course))
        for lesson in course.lessons:
            for q in lesson.questions:
                texts += [(f"{q.id} option {o.key}", o.label) for o in q.options]
        for where, text in texts:
            labels = text if isinstance(text, dict) else text.texts
            fr_amounts = {n for n in french_numbers(labels["fr"]) if n >= 100}
            bm_amounts = bambara_amounts(labels["bm"])
            assert set(bm_amounts) == fr_amounts, (course.id, where, labels["fr"], labels["bm"])
            checked += len(bm_amounts)
    assert checked >= 40


# --- every lesson through the engine, both languages, right and wrong -------------------------------


def walk(course, lesson, lang: str, answer) -> tuple[list, object]:
    """Start the lesson and go to the end; ``answer(question)`` gives the input at each question."""
    result = advance(course, start_bookmark(course, lesson.id), Start())
    seen = list(result.steps)
    for _ in range(len(lesson.items)):
        step = result.steps[-1]
        if isinstance(step, SayChunk):
            assert step.chunk.body.text(lang)
            result = advance(course, result.bookmark, Continue())
        elif isinstance(step, AskQuestion):
            assert step.question.prompt.text(lang)
            result = advance(course, result.bookmark, answer(step.question))
        else:
            break
        seen.extend(result.steps)
    return seen, result


def wrong_option(question):
    return next(o for o in question.options if not o.correct)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("course", "lesson"), LESSONS, ids=LESSON_IDS)
@pytest.mark.parametrize(
    ("how", "answer", "all_correct"),
    [
        ("keys, right", lambda q, lang: Digits(q.correct_option.key), True),
        ("keys, wrong", lambda q, lang: Digits(wrong_option(q).key), False),
        ("words, right", lambda q, lang: Text(q.correct_option.label[lang]), True),
        ("words, wrong", lambda q, lang: Text(wrong_option(q).label[lang]), False),
    ],
    ids=["keys-right", "keys-wrong", "words-right", "words-wrong"],
)
def test_every_lesson_completes_in_both_languages(course, lesson, lang, how, answer, all_correct):
    seen, result = walk(course, lesson, lang, lambda q: answer(q, lang))
    assert result.completion is not None, (course.id, lesson.id, lang, how)
    assert result.completion.total == len(lesson.questions)
    assert result.completion.score == (len(lesson.questions) if all_correct else 0)
    feedback = [s for s in seen if isinstance(s, Feedback)]
    assert [f.question.id for f in feedback] == [q.id for q in lesson.questions]
    assert all(f.correct is all_correct for f in feedback)
    assert all(f.text.text(lang) for f in feedback)
    said = [s.chunk.id for s in seen if isinstance(s, SayChunk)]
    assert said == [i.id for i in lesson.items if isinstance(i, Chunk)]


def test_contact_settings_are_known_to_the_content():
    assert [c.env for c in CONTACTS] == [
        "KALANSO_CONTACT_SOCIAL_SERVICE",
        "KALANSO_CONTACT_CHILD_PROTECTION",
        "KALANSO_CONTACT_LABOUR_INSPECTION",
        "KALANSO_CONTACT_POLICE_CHILDREN",
        "KALANSO_CONTACT_HELPLINE",
        "KALANSO_CONTACT_FIELD_AGENT",
    ]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.?!])\s+", text) if s.strip()]


def test_shorter_sms_texts_are_one_sms_and_bambara_ones_only_cut_whole_sentences():
    from sms.encoding import cost, for_sms

    found = 0
    for course in CATALOG:
        for where, text in localized_texts(course):
            for lang, short in text.sms.items():
                found += 1
                assert len(short) < len(text.text(lang)), where
                assert cost(for_sms(short, transliterate=True)).segments <= 2, where
                if lang == "bm":  # never new Bambara for SMS: whole sentences of the reviewed text
                    assert set(_sentences(short)) <= set(_sentences(text.text(lang))), where
    assert found >= 8


def test_no_course_text_contains_an_opt_out_or_opt_in_word():
    from sms.authoring import consent_word_problems
    from sms.keywords import Keywords

    keywords = Keywords.from_file(opt_out_word_bm="BANNI", opt_in_word_bm="SEGINNI")
    assert [p for course in CATALOG for p in consent_word_problems(course, keywords)] == []
