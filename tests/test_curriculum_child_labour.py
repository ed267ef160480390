"""The child-labour course, pinned: the ages it teaches follow Mali's rules (no job before 15, light work at
13-14 only, no hazardous work under 18), every example's age fits them, the corrected Bambara stays corrected,
the questions test real misconceptions, and the course's pre-test and post-test cover its key facts.

Everything is read from the loaded catalog, so a text that drifts makes a test fail."""

from __future__ import annotations

import re

import pytest

from content.loader import COURSES_DIR, load_catalog
from content.model import Chunk, Question, localized_texts

CATALOG = load_catalog(COURSES_DIR)
COURSE = CATALOG.course("child-labour")
# The lessons this file pins (other lessons of the course, appended later, have their own tests).
MINE = {
    "pre-test",
    "what-is-child-labour",
    "ages-that-matter",
    "decent-work-15-17",
    "dangers-in-gold-mining",
    "dangers-in-cotton",
    "why-school-pays",
    "who-to-tell",
    "post-test",
}
LESSONS = [lesson for lesson in COURSE.lessons if not lesson.is_test and lesson.id in MINE]
QUESTIONS = [(lesson.id, q) for lesson in COURSE.lessons if lesson.id in MINE for q in lesson.questions]
COURSE_FILE = (COURSES_DIR / "child-labour.yaml").read_text(encoding="utf-8")


def my_texts():
    """(where, Localized) for the course's own texts and those of the lessons in MINE."""
    for where, text in localized_texts(COURSE):
        parts = where.split(" › ")
        if len(parts) < 3 or parts[1] in MINE:
            yield where, text


def test_the_lessons_pinned_here_are_all_there():
    assert {lesson.id for lesson in COURSE.lessons} >= MINE
    assert len(list(my_texts())) > 100  # titles, chunks, questions and feedback of nine lessons


def item(lesson_id: str, item_id: str):
    lesson = COURSE.lesson(lesson_id)
    return lesson.items[lesson.item_index(item_id)]


def texts(thing, lang: str) -> list[str]:
    """Every text of a chunk or a question (prompt, options, both feedbacks) in one language."""
    if isinstance(thing, Chunk):
        return [thing.body.text(lang)]
    return [
        thing.prompt.text(lang),
        thing.feedback_correct.text(lang),
        thing.feedback_wrong.text(lang),
        *(o.label[lang] for o in thing.options),
    ]


def joined(thing, lang: str) -> str:
    return " ".join(texts(thing, lang))


# --- ages ----------------------------------------------------------------------------------------------

FR_AGES = {
    "neuf": 9,
    "dix": 10,
    "onze": 11,
    "douze": 12,
    "treize": 13,
    "quatorze": 14,
    "quinze": 15,
    "seize": 16,
    "dix-sept": 17,
    "dix-huit": 18,
}
# "Awa a dix ans", "son fils de dix ans", "apprentie couturière de quinze ans": the age of a child in an example
# (the rules say "avant quinze ans", "jusqu'à dix-huit ans": not matched).
EXAMPLE_AGE_FR = re.compile(r"\b(?:a|(?<!plus )de) (" + "|".join(sorted(FR_AGES, key=len, reverse=True)) + r") ans\b")
BM_UNITS = {"kelen": 1, "fila": 2, "saba": 3, "naani": 4, "duuru": 5, "wɔɔrɔ": 6, "wolonwula": 7, "seegin": 8}
BM_UNITS["kɔnɔntɔn"] = 9
# "Awa si ye san tan ye", "a denkɛ, min si ye san tan ye": the same ages said in Bambara.
EXAMPLE_AGE_BM = re.compile(r"\bsi ye san ((?:(?:tan|ni|" + "|".join(BM_UNITS) + r") )+)ye\b")


def bm_age(words: str) -> int:
    return sum(10 if w == "tan" else BM_UNITS.get(w, 0) for w in words.split())


def example_ages(question: Question, lang: str) -> set[int]:
    prompt = question.prompt.text(lang)
    if lang == "fr":
        return {FR_AGES[m] for m in EXAMPLE_AGE_FR.findall(prompt)}
    return {bm_age(m) for m in EXAMPLE_AGE_BM.findall(prompt)}


def test_the_age_readers():
    awa = item("what-is-child-labour", "awa-at-the-mine")
    assert example_ages(awa, "fr") == example_ages(awa, "bm") == {10}
    assert bm_age("tan ni wolonwula") == 17
    assert EXAMPLE_AGE_FR.findall("Avant quinze ans, pas d'emploi. Seydou a dix-sept ans.") == ["dix-sept"]
    assert EXAMPLE_AGE_FR.findall("Il a plus de quinze ans. Son fils de dix ans.") == ["dix"]


@pytest.mark.parametrize(("lesson_id", "question"), QUESTIONS, ids=[f"{lid}/{q.id}" for lid, q in QUESTIONS])
def test_each_example_says_the_same_age_in_both_languages(lesson_id, question):
    assert example_ages(question, "fr") == example_ages(question, "bm"), question.id


def approves(question: Question) -> bool:
    """The question's right answer says the child's activity is fine ("Non" to "Est-ce du travail des
    enfants ?", "Oui" to "Est-ce acceptable / permis ?")."""
    prompt, answer = question.prompt.text("fr"), question.correct_option.label["fr"]
    return ("travail des enfants ?" in prompt and answer == "Non") or (
        ("acceptable ?" in prompt or "permis ?" in prompt) and answer == "Oui"
    )


FARM_OR_MINE = re.compile(r"champ|récolte|coton|désherb|cueill|mine|puits|orpaill")
A_JOB = re.compile(r"emploi|salaire|payer|patron")
HAZARDS = re.compile(r"mine|puits|mercure|pesticide|pulvéris|la nuit")


def test_every_example_shown_as_fine_fits_malis_ages():
    """Before 13 only small help in the family, no farm or mine work; before 15 no job; before 18 nothing
    hazardous (Code du travail art. L.187; arrêté n° 2024-2109 of 5 July 2024; arrêtés of 2009 and 2017)."""
    approved = [q for _, q in QUESTIONS if approves(q)]
    assert {q.id for q in approved} >= {"moussa-saturday", "aminata-chickens"}
    for q in approved:
        prompt = q.prompt.text("fr")
        (age,) = example_ages(q, "fr")
        assert age >= 13 or not FARM_OR_MINE.search(prompt), (q.id, age)
        assert age >= 15 or not A_JOB.search(prompt), (q.id, age)
        assert age >= 18 or not HAZARDS.search(prompt), (q.id, age)


def test_the_examples_of_allowed_help_have_the_right_ages():
    moussa = item("what-is-child-labour", "moussa-saturday")
    assert example_ages(moussa, "fr") == {13} and "désherbe" in moussa.prompt.text("fr")  # light farm work: 13+
    harvest = item("dangers-in-cotton", "harvest-help")
    assert example_ages(harvest, "fr") == {14}  # light farm help at 13-14, never the big sacks
    assert harvest.correct_option.label["fr"] == "Un petit panier"
    aminata = item("ages-that-matter", "aminata-chickens")
    assert max(example_ages(aminata, "fr")) < 13 and "poules" in aminata.prompt.text("fr")  # home help only
    assert "Dès treize ans" in item("dangers-in-cotton", "loads-and-heat").body.text("fr")


def test_the_rules_say_the_three_ages_in_both_languages():
    rules = item("ages-that-matter", "the-rules").body
    fr, bm = rules.text("fr"), rules.text("bm")
    for word in ("Avant treize ans", "Avant quinze ans, pas d'emploi", "Avant dix-huit ans, aucun travail"):
        assert word in fr
    for words in ("san tan ni saba", "san tan ni duuru", "san tan ni seegin"):
        assert words in bm
    for hazard in ("puits de mine", "mercure", "pesticides", "lourdes charges", "la nuit"):
        assert hazard in fr
    light = item("ages-that-matter", "light-help").body.text("fr")
    assert "À treize et quatorze ans" in light and "liste" in light
    assert "jamais les heures de classe" in light


@pytest.mark.parametrize(
    ("lesson_id", "question_id", "age", "answer"),
    [
        ("ages-that-matter", "age-for-a-job", None, "15 ans"),  # Code du travail art. L.187; C138: 15
        ("ages-that-matter", "seydou-pit", 17, "Non"),  # no hazardous work under 18, even at 17
        ("ages-that-matter", "kadiatou-school-hours", 14, "Non, pas pendant l'école"),  # light work: not in class
        ("decent-work-15-17", "adama-sacks", 16, "Non, c'est dangereux"),  # a job at 16, never the mine
        ("dangers-in-gold-mining", "biggest-danger", None, "Non, les sacs aussi"),  # strong is still a child
        ("pre-test", "q-domestic-job", 12, "Non, pas avant 15 ans"),
        ("pre-test", "q-hazardous-age", None, "Jusqu'à 18 ans"),
        ("pre-test", "q-light-work", None, "Un travail léger et court"),
    ],
)
def test_the_ages_the_questions_teach(lesson_id, question_id, age, answer):
    question = item(lesson_id, question_id)
    assert question.correct_option.label["fr"] == answer
    if age is not None:
        assert example_ages(question, "fr") == {age}
    labels = [o.label["fr"] for o in question.options]
    if question_id == "age-for-a-job":  # the distractors are the real confusions: "strong enough", 18
        assert labels == ["12 ans, s'il est fort", "15 ans", "18 ans"]


# --- the new lesson: decent work at 15-17 ----------------------------------------------------------------


def test_decent_work_comes_right_after_the_ages_and_teaches_the_conditions():
    ids = [lesson.id for lesson in COURSE.lessons]
    assert ids[ids.index("ages-that-matter") + 1] == "decent-work-15-17"
    lesson = COURSE.lesson("decent-work-15-17")
    chunks = [i for i in lesson.items if isinstance(i, Chunk)]
    assert 3 <= len(chunks) <= 4 and len(lesson.questions) >= 3
    assert lesson.review == {"fr": "draft", "bm": "draft"}
    said = " ".join(c.body.text("fr") for c in chunks)
    for fact in ("À partir de quinze ans", "jusqu'à dix-huit ans", "jamais la nuit", "le patron qui les donne"):
        assert fact in said
    for fact in ("contrat écrit", "apprend vraiment le métier", "école"):
        assert fact in said
    assert item("decent-work-15-17", "who-pays-gloves").correct_option.label["fr"] == "Le patron"
    assert item("decent-work-15-17", "mariam-sweeping").correct_option.label["fr"] == "Non, apprendre le métier"


# --- cotton: the adult acts, the empty can -----------------------------------------------------------------


def test_oumou_spraying_asks_what_the_adult_should_do():
    q = item("dangers-in-cotton", "oumou-spraying")
    assert "Que doit faire l'oncle ?" in q.prompt.text("fr")
    assert "A benkɛ ka kan ka mun kɛ?" in q.prompt.text("bm")
    assert q.correct_option.label["fr"] == "Il traite seul, Oumou loin"
    assert not any("Refuser" in o.label["fr"] for o in q.options)  # a 14-year-old is not asked to refuse
    wrong = {o.label["fr"] for o in q.options if not o.correct}
    assert wrong == {"Elle pulvérise au frais", "Elle aide avec un foulard"}  # the misconceptions
    assert "pendant et après" in q.feedback_correct.text("fr")


def test_the_empty_can_is_rinsed_punctured_and_returned():
    """FAO guidelines on empty pesticide containers (2008): triple rinse, puncture, return to collection;
    never reuse, never burn; burial only as a last resort, far from water."""
    q = item("dangers-in-cotton", "empty-can")
    assert q.correct_option.label["fr"] == "Rincer, percer, rapporter"
    assert q.correct_option.key == "2"
    assert "rincer trois fois, le percer et le rapporter au point de collecte, tapez 2" in q.prompt.text("fr")
    wrong = " ".join(o.label["fr"] for o in q.options if not o.correct)
    assert "garder l'eau" in wrong and "brûler" in wrong
    assert "seulement s'il n'y a aucune collecte" in q.feedback_correct.text("fr")
    chunk = item("dangers-in-cotton", "pesticides").body.text("fr")
    assert "rince trois fois" in chunk and "point de collecte" in chunk
    assert "enterre" not in chunk  # burying is no longer the advice
    assert "siɲɛ saba" in item("dangers-in-cotton", "pesticides").body.text("bm")


# --- Bambara corrections -----------------------------------------------------------------------------------

CORRECTIONS = [
    # (lesson, item, words now present, words gone)
    ("dangers-in-gold-mining", "mercury", ["kunsɛmɛ", "jeni"], ["kunkolo", "wuli"]),
    ("dangers-in-gold-mining", "mercury-fumes", ["kunsɛmɛ"], ["kunkolo"]),
    ("who-to-tell", "urgent-case", ["denmisɛnw ta ka u bila baara la"], ["u baara kɛ", "denmisɛnw baara kɛ"]),
    ("dangers-in-gold-mining", "what-children-can-do", ["ni mɔgɔkɔrɔbaw bɛ baara la"], ["mɔgɔkɔrɔbaw to baara"]),
    ("dangers-in-cotton", "loads-and-heat", ["Nka a man kan ka o kɛ lakɔli waati la abada."], ["nka lakɔli waati"]),
    ("ages-that-matter", "the-rules", ["ka pesitisidi fiyɛ"], ["furaw digi", "Diɲɛ Baara Tɔnba"]),
    ("ages-that-matter", "age-for-a-job", ["a si ka kan ka kɛ san joli ye?", "ni a si ye san tan ni duuru ye"], []),
    ("why-school-pays", "reading-and-counting", ["balansi"], ["girinyasumanan"]),
    ("why-school-pays", "moussa-scale", ["balansi"], ["girinyasumanan"]),
    ("dangers-in-cotton", "pesticides", ["Pesitisidi"], ["fɛnɲɛnamafagalan"]),
]


@pytest.mark.parametrize(("lesson_id", "item_id", "present", "gone"), CORRECTIONS, ids=[c[1] for c in CORRECTIONS])
def test_the_bambara_corrections_hold(lesson_id, item_id, present, gone):
    bm = joined(item(lesson_id, item_id), "bm")
    for words in present:
        assert words in bm, (item_id, words)
    for words in gone:
        assert words not in bm, (item_id, words)


def test_each_correction_is_marked_for_a_native_reader():
    lessons_marked = {lesson.id for lesson in COURSE.lessons if lesson.native_review}
    assert {"dangers-in-cotton", "decent-work-15-17", "pre-test"} <= lessons_marked
    for lesson_id, item_id, _, _ in CORRECTIONS:
        if item_id in ("mercury-fumes", "moussa-scale", "pesticides"):  # covered by the chunk's or lesson's mark
            continue
        marks = " ".join(item(lesson_id, item_id).native_review)
        assert marks, item_id
    assert "kunsɛmɛ" in " ".join(item("dangers-in-gold-mining", "mercury").native_review)
    assert "bila baara la" in " ".join(item("who-to-tell", "urgent-case").native_review)


def test_the_doubtful_coinages_are_gone_and_one_spelling_is_used():
    everything = " ".join(t.text("bm") for _, t in my_texts())
    everything += " ".join(o.label["bm"] for _, q in QUESTIONS for o in q.options)
    for gone in ("girinyasumanan", "fɛnɲɛnamafagalan", "Diɲɛ Baara Tɔnba", "furaw digi", "kunkolo"):
        assert gone not in everything
    assert not re.search(r"\b(dɔɔni|dɔni|dɔnin)\b", everything)  # one spelling: dɔɔnin
    assert "dɔɔnin" in everything


def test_the_bambara_questions_use_the_lighter_key_pattern():
    assert '"X: i ka N digi."' in COURSE_FILE.split("\nid: child-labour")[0]  # said once at the top of the file
    assert "lighter key pattern" in " ".join(item("ages-that-matter", "age-for-a-job").native_review)
    for _, q in QUESTIONS:
        bm = q.prompt.text("bm")
        assert "Ni a ye" not in bm, q.id
        for option in q.options:
            assert bm.count(f"i ka {option.key} digi") == 1, (q.id, option.key)
            assert re.search(rf": i ka {option.key} digi\.", bm), (q.id, option.key)


# --- questions that test something --------------------------------------------------------------------------

JOKE_OPTIONS = {"l'insulter", "pour jouer", "rien", "personne", "25 ans", "pour faire joli", "la fête du président"}


def test_no_wrong_option_is_a_joke_nobody_would_pick():
    for lesson_id, q in QUESTIONS:
        for option in q.options:
            assert option.label["fr"].lower() not in JOKE_OPTIONS, (lesson_id, q.id, option.label["fr"])


@pytest.mark.parametrize(
    ("lesson_id", "question_id", "misconception"),
    [
        ("what-is-child-labour", "awa-at-the-mine", "seulement pour les vacances"),
        ("what-is-child-labour", "fatoumata-market", "elle apprend le commerce"),
        ("dangers-in-gold-mining", "biggest-danger", "il est fort"),
        ("dangers-in-gold-mining", "mercury-fumes", "en plein air"),
        ("dangers-in-cotton", "harvest-help", "il est fort"),
        ("why-school-pays", "moussa-scale", "l'acheteur pèse toujours juste"),
        ("who-to-tell", "first-step", "c'est son fils"),
    ],
)
def test_the_questions_voice_a_real_misconception(lesson_id, question_id, misconception):
    question = item(lesson_id, question_id)
    assert misconception in question.prompt.text("fr").lower()
    assert misconception not in question.correct_option.label["fr"].lower()


def test_the_mercury_lesson_says_washing_hands_does_not_protect():
    assert "Se laver les mains ne protège pas" in item("dangers-in-gold-mining", "mercury").body.text("fr")


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"[.?!]+", text) if s.strip()]


def test_sentences_are_short_enough_to_follow_by_ear():
    """About 20 words: at most 25 in French, 30 in Bambara (its particles count as words); the sentences that
    say a key ("tapez 1") list an option and are left out."""
    for where, text in my_texts():
        for lang, limit in (("fr", 25), ("bm", 30)):
            for sentence in sentences(text.text(lang)):
                if re.search(r"tapez \d|i ka \d digi", sentence):
                    continue
                assert len(sentence.split()) <= limit, (where, lang, sentence)


# --- the pre-test and post-test ----------------------------------------------------------------------------


def test_the_course_test_comes_first_and_last_and_does_not_copy_a_lesson():
    assert COURSE.lessons[0].id == "pre-test" and COURSE.lessons[-1].id == "post-test"
    pre, post = COURSE.lessons[0], COURSE.lessons[-1]
    assert [q.id for q in pre.questions] == [q.id for q in post.questions]
    assert 4 <= len(pre.questions) <= 6
    lesson_prompts = {q.prompt.text("fr") for lesson in LESSONS for q in lesson.questions}
    lesson_ids = {q.id for lesson in LESSONS for q in lesson.questions}
    for q in pre.questions:
        assert q.prompt.text("fr") not in lesson_prompts and q.id not in lesson_ids


def test_the_course_test_covers_the_key_facts():
    answers = {q.id: q.correct_option.label["fr"] for q in COURSE.lesson("pre-test").questions}
    assert answers == {
        "q-domestic-job": "Non, pas avant 15 ans",  # no job before 15
        "q-light-work": "Un travail léger et court",  # light work at 13-14
        "q-hazardous-age": "Jusqu'à 18 ans",  # mines and cotton pesticides: hazardous under 18
        "q-mercury-place": "Loin des maisons",  # mercury fumes
        "q-next-step": "Prévenir les services",  # whom to tell
    }
    hazardous = item("pre-test", "q-hazardous-age").prompt.text("fr")
    assert "puits de mine" in hazardous and "pesticides" in hazardous


def test_a_right_no_is_not_greeted_with_yes():
    """When the right answer is "Non...", the feedback does not open with "Oui." (nor "Ɔwɔ.")."""
    for lesson_id, q in QUESTIONS:
        if lesson_id in MINE and q.correct_option.label["fr"].startswith("Non"):
            assert not q.feedback_correct.text("fr").startswith("Oui"), q.id
            assert not q.feedback_correct.text("bm").startswith("Ɔwɔ"), q.id
