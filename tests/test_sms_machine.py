"""The pure SMS conversation machine (sms/machine.py): every keyword × both languages × in or out of a
lesson, with exact replies and effects; properties on arbitrary Unicode text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from content.model import Localized
from core.vocabulary import Purpose
from engine import AskQuestion, Feedback, Invalid, LessonComplete, Start, Text
from sms import machine
from sms.keywords import Keywords
from sms.machine import Context, CourseEntry, LessonEntry, OptIn, OptOut, Outcome, SetLanguage, Turn, receive

KEYWORDS = Keywords.from_file(opt_out_word_bm="BANNI", opt_in_word_bm="SEGINNI")


def loc(fr: str, bm: str) -> Localized:
    return Localized(texts={"fr": fr, "bm": bm}, audio={"fr": "", "bm": ""})


def courses(*done: str) -> tuple[CourseEntry, ...]:
    return (
        CourseEntry(
            "child-labour",
            loc("Le travail des enfants", "Denmisɛnw ka baara"),
            (
                LessonEntry("what-is", loc("Qu'est-ce que c'est ?", "A ye mun ye?"), "what-is" in done),
                LessonEntry("ages", loc("Les âges", "Sanw"), "ages" in done),
            ),
        ),
        CourseEntry(
            "money", loc("L'argent", "Wari"), (LessonEntry("saving", loc("Épargner", "Mara"), "saving" in done),)
        ),
    )


def ctx(language: str | None = "fr", **changes) -> Context:
    base = {"keywords": KEYWORDS, "language": language, "default_language": "fr", "courses": courses()}
    return Context(**{**base, **changes})


IDLE = {"node": "idle"}
IN_LESSON = {"node": "lesson", "course_id": "child-labour", "lesson_id": "ages", "at_chunk": False}
DONE = {"node": "done", "course_id": "child-labour", "lesson_id": "what-is"}

HELP = {
    "fr": "Kalanso : QUIZ pour apprendre, PROGRES pour vos leçons, LANGUE 1 bambara, LANGUE 2 français, "
    "* pour revoir la question, ARRET pour ne plus rien recevoir.",
    "bm": "Kalanso: KALAN ka kalan kɛ, TAASIRA ka i ka kalansenw lajɛ, KAN 1 bamanankan, KAN 2 tubabukan, "
    "* ka ɲininkali kura, BANNI ka dabila.",
}
LIST = {
    "fr": "Choisissez un cours, répondez par son numéro :\n1) Le travail des enfants\n2) L'argent",
    "bm": "Kalan dɔ sugandi, a nimɔrɔ ci:\n1) Denmisɛnw ka baara\n2) Wari",
}
SET = {
    "fr": "Langue : français. Pour le bambara, envoyez LANGUE 1.",
    "bm": "Kan: bamanankan. Tubabukan kama, KAN 2 ci.",
}
STOPPED = {
    "fr": "Kalanso : vous ne recevrez plus de messages ni d'appels. Envoyez START pour revenir.",
    "bm": "Kalanso: cikan ni wele si tɛna na i ma tugun. SEGINNI ci ka segin.",
}
NONE_DONE = {
    "fr": "Kalanso : vous n'avez pas encore terminé de leçon.",
    "bm": "Kalanso: i ma kalansen si ban fɔlɔ.",
}
CURRENT = {"fr": " En cours : Les âges.", "bm": " I bɛ nin na: Sanw."}
NO_LESSON = {
    "fr": "Kalanso : envoyez QUIZ pour apprendre, AIDE pour l'aide.",
    "bm": "Kalanso: KALAN ci ka kalan kɛ, DƐMƐ ka dɛmɛ sɔrɔ.",
}
OTHER = {"fr": "bm", "bm": "fr"}
QUIZ = {"fr": "QUIZ", "bm": "KALAN"}
HELP_WORD = {"fr": "AIDE", "bm": "DƐMƐ"}
LANGUE = {"fr": "LANGUE", "bm": "KAN"}
PROGRESS = {"fr": "PROGRES", "bm": "TAASIRA"}
STOP = {"fr": "ARRÊT", "bm": "BANNI"}
START = {"fr": "REPRENDRE", "bm": "SEGINNI"}


def resume(lang: str) -> Turn:
    return Turn("child-labour", "ages", Start(), lang)


def table() -> list:
    cases = []
    for lang in ("fr", "bm"):
        other = OTHER[lang]
        for where in ("out", "in"):
            in_lesson = where == "in"
            quiz = (resume(lang),) if in_lesson else (LIST[lang],)
            cases += [
                (lang, where, QUIZ[lang], Outcome(quiz)),
                (lang, where, START[lang], Outcome(quiz)),
                (lang, where, HELP_WORD[lang], Outcome((HELP[lang],))),
                (lang, where, "HELP", Outcome((HELP[lang],))),
                (
                    lang,
                    where,
                    LANGUE[lang],  # alone: the other language
                    Outcome((SET[other], *((resume(other),) if in_lesson else ())), (SetLanguage(other),)),
                ),
                (
                    lang,
                    where,
                    f"{LANGUE[lang]} 1",
                    Outcome((SET["bm"], *((resume("bm"),) if in_lesson else ())), (SetLanguage("bm"),)),
                ),
                (
                    lang,
                    where,
                    f"{LANGUE[lang]} 2",
                    Outcome((SET["fr"], *((resume("fr"),) if in_lesson else ())), (SetLanguage("fr"),)),
                ),
                (
                    lang,
                    where,
                    PROGRESS[lang],
                    Outcome((NONE_DONE[lang] + (CURRENT[lang] if in_lesson else ""),)),
                ),
                (lang, where, STOP[lang], Outcome((STOPPED[lang],), (OptOut(),), Purpose.OPT_OUT_CONFIRMATION)),
                (lang, where, "stop please", Outcome((STOPPED[lang],), (OptOut(),), Purpose.OPT_OUT_CONFIRMATION)),
                (
                    lang,
                    where,
                    "bonjour",
                    Outcome(
                        (Turn("child-labour", "ages", Text("bonjour"), lang),) if in_lesson else (NO_LESSON[lang],)
                    ),
                ),
                (
                    lang,
                    where,
                    "b",  # a letter: the answer in a lesson, the second course outside
                    Outcome(
                        (Turn("child-labour", "ages", Text("b"), lang),)
                        if in_lesson
                        else (Turn("money", "saving", Start(), lang),)
                    ),
                ),
            ]
    return cases


@pytest.mark.parametrize(("lang", "where", "text", "expected"), table())
def test_every_keyword_in_both_languages_in_and_out_of_a_lesson(lang, where, text, expected):
    state = IN_LESSON if where == "in" else IDLE
    assert receive(state, ctx(lang), text) == expected


@pytest.mark.parametrize("lang", ["fr", "bm"])
@pytest.mark.parametrize(
    ("text", "hint_due", "expected"),
    [
        ("QUIZ", True, "resume_hint"),
        ("1", True, "resume_hint"),
        ("DABILA", True, "resume_hint"),
        ("bonjour", False, None),  # told in the last 24 hours: nothing
        ("STOP", True, None),  # already out: confirmed once, nothing more
        ("BANNI", True, None),
    ],
)
def test_an_opted_out_listener_gets_at_most_the_resume_hint(lang, text, hint_due, expected):
    outcome = receive(IN_LESSON, ctx(lang, opted_out=True, resume_hint_due=hint_due), text)
    hints = {
        "fr": "Kalanso : vous avez arrêté nos messages. Envoyez START pour reprendre.",
        "bm": "Kalanso: i ye an ka cikanw dabila. SEGINNI ci ka segin.",
    }
    assert outcome.replies == ((hints[lang],) if expected else ())
    assert outcome.effects == ()


@pytest.mark.parametrize(("lang", "word"), [("fr", "START"), ("bm", "SEGINNI"), ("fr", "reprendre")])
def test_the_opt_in_words_bring_an_opted_out_listener_back(lang, word):
    restarted = {
        "fr": "Kalanso : bon retour ! Envoyez QUIZ pour apprendre.",
        "bm": "Kalanso: i ni segin! KALAN ci ka kalan kɛ.",
    }
    assert receive(IDLE, ctx(lang, opted_out=True), word) == Outcome(
        (restarted[lang],), (OptIn(),), Purpose.OPT_IN_CONFIRMATION
    )


@pytest.mark.parametrize(
    ("text", "lang", "chosen", "replies"),
    [
        ("KAN", "bm", True, (SET["bm"],)),  # a first text chooses the keyword's own language
        ("LANGUE", "fr", True, (SET["fr"],)),
        ("DƐMƐ", "bm", True, (HELP["bm"],)),
        # no keyword: the default language, not a choice (an import may still set the listener's language)
        ("bonjour", "fr", False, ("Bienvenue sur Kalanso ! Apprenez par SMS, gratuitement.", LIST["fr"])),
        ("BANNI", "bm", True, (STOPPED["bm"],)),
    ],
)
def test_a_first_text_sets_the_language_of_its_keyword(text, lang, chosen, replies):
    outcome = receive(IDLE, ctx(None, first_contact=True), text)
    assert outcome.replies == replies
    assert outcome.effects[0] == SetLanguage(lang, chosen=chosen)


def test_quiz_after_a_lesson_starts_the_next_one_then_the_next_course_then_lists_with_marks():
    one_done = ctx(courses=courses("what-is"))
    assert receive(DONE, one_done, "QUIZ").replies == (Turn("child-labour", "ages", Start(), "fr"),)
    course_done = ctx(courses=courses("what-is", "ages"))
    after_ages = {**DONE, "lesson_id": "ages"}
    assert receive(after_ages, course_done, "QUIZ").replies == (Turn("money", "saving", Start(), "fr"),)
    all_done = ctx(courses=courses("what-is", "ages", "saving"))
    assert receive({**DONE, "course_id": "money", "lesson_id": "saving"}, all_done, "QUIZ").replies == (
        "Choisissez un cours, répondez par son numéro :\n1) Le travail des enfants (ok)\n2) L'argent (ok)",
    )
    assert receive(IDLE, one_done, "QUIZ").replies == (
        "Choisissez un cours, répondez par son numéro :\n1) Le travail des enfants (1/2)\n2) L'argent",
    )


@pytest.mark.parametrize(
    ("text", "replies"),
    [
        ("QUIZ 2", (Turn("money", "saving", Start(), "fr"),)),
        ("QUIZ b", (Turn("money", "saving", Start(), "fr"),)),
        ("quiz money", (Turn("money", "saving", Start(), "fr"),)),
        ("QUIZ a", (Turn("child-labour", "ages", Start(), "fr"),)),  # the first lesson not done
        ("QUIZ 9", ("Ce cours n'existe pas. Envoyez QUIZ pour la liste.",)),
        ("A", (Turn("child-labour", "ages", Start(), "fr"),)),
        ("2", (Turn("money", "saving", Start(), "fr"),)),
        ("z", ("Kalanso : envoyez QUIZ pour apprendre, AIDE pour l'aide.",)),
    ],
)
def test_numbers_and_letters_pick_courses_outside_a_lesson(text, replies):
    assert receive(DONE, ctx(courses=courses("what-is")), text).replies == replies


def test_a_lesson_left_mid_chunk_resumes_at_the_chunk():
    state = {**IN_LESSON, "at_chunk": True}
    assert receive(state, ctx(), "1").replies == (Turn("child-labour", "ages", Start(), "fr"),)


def test_after_a_lesson_the_line_says_what_comes_next(catalog):
    course = catalog.course("child-labour")
    lesson = course.lessons[0]
    question = lesson.questions[0]
    done = LessonComplete(score=1, total=2, first_time=True)
    steps = [Feedback(question, True, question.correct_option), done]
    turn = Turn("child-labour", "what-is", Text("1"), "fr")
    assert machine.lesson_replies(ctx(), turn, steps) == [
        question.feedback_correct.text("fr"),
        "Leçon terminée. Bonnes réponses : 1 sur 2.",
        "Envoyez QUIZ pour la leçon suivante : Les âges.",
    ]
    last = Turn("child-labour", "ages", Text("1"), "bm")
    assert machine.lesson_replies(ctx(courses=courses("what-is")), last, [done])[-1] == (
        "Kalan banna! KALAN ci ka taa a fɛ: Wari."
    )
    unclear = [Invalid("zz"), AskQuestion(question, 1, 2)]
    assert machine.lesson_replies(ctx(), turn, unclear) == ["Réponse non comprise. Répondez 1 ou 2 :\n1) Oui\n2) Non"]


# --- properties ---------------------------------------------------------------------------------------

STATES = st.sampled_from([IDLE, IN_LESSON, DONE, {**IN_LESSON, "at_chunk": True}, {}])
CONTEXTS = st.builds(
    ctx,
    language=st.sampled_from([None, "fr", "bm"]),
    opted_out=st.booleans(),
    first_contact=st.booleans(),
    resume_hint_due=st.booleans(),
    courses=st.sampled_from([courses(), courses("what-is"), courses("what-is", "ages", "saving"), ()]),
)


@settings(max_examples=400, deadline=None)
@given(state=STATES, context=CONTEXTS, text=st.text())
def test_the_machine_never_raises_and_answers_a_bounded_number_of_replies(state, context, text):
    outcome = receive(state, context, text)
    texts = [r for r in outcome.replies if isinstance(r, str)]
    turns = [r for r in outcome.replies if isinstance(r, Turn)]
    assert len(texts) <= machine.MAX_REPLIES and len(turns) <= 1
    assert all(t.strip() for t in texts)
    if context.opted_out and not any(isinstance(e, OptIn) for e in outcome.effects):
        assert not turns and len(texts) <= 1  # at most the resume hint
        assert not texts or context.resume_hint_due


@settings(max_examples=300, deadline=None)
@given(
    state=STATES,
    context=CONTEXTS,
    word=st.sampled_from(["STOP", "stop", "Arrêt", "ARRET", "arrête", "BANNI", "Banni!", "désabonner"]),
    rest=st.text(),
)
def test_an_opt_out_word_first_always_wins(state, context, word, rest):
    outcome = receive(state, context, f"{word} {rest}")
    assert outcome.purpose == Purpose.OPT_OUT_CONFIRMATION
    assert not any(isinstance(r, Turn) for r in outcome.replies)
    if context.opted_out:
        assert outcome.replies == ()
    else:
        assert OptOut() in outcome.effects and len(outcome.replies) == 1
