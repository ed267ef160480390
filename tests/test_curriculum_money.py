"""The money course (curriculum v2): the sums it teaches, computed from its own texts, and the rules it follows.

The amounts are read from the loaded course, so a test fails when a text drifts from the numbers it teaches.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest

from content.loader import COURSES_DIR, load_catalog
from content.model import Question

CATALOG = load_catalog(COURSES_DIR)
MONEY = CATALOG.course("money")

# The usury ceiling for microfinance in the UMOA: 24 % a year, as a taux effectif global (interest plus fees
# of any kind). Décision CM/UMOA/011/06/2013 of the UMOA Council of Ministers (28 June 2013), in force from
# 1 January 2014 (15 % for banks, 24 % for SFD and other lenders); the UEMOA Council of Ministers of
# 29-30 December 2025 lowered the banks' ceiling to 14 % and kept 24 % for microfinance. Mali adopted the
# uniform law on usury on 21 August 2014. Sources in content/courses/money.yaml (borrowing-safely).
USURY_CEILING_SFD = Fraction(24, 100)

MONTHS = {"un": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "huit": 8, "neuf": 9, "douze": 12}
AMOUNT = r"(\d{1,3}(?: \d{3})*)"

# Options nobody would pick: a listener who did not listen could guess the answer by ruling them out.
JOKE_OPTIONS = [
    "pour faire joli",
    "la fête du président",
    "sans raison",
    "l'insulter",
    "pour rien faire",
    "cɛɲi kama",
    "tɔntigi ka seli",
    "kun tɛ a la",
]

# Words replaced in v2 by the everyday word (or by a correct construction); each change is marked for review.
RETIRED_BAMBARA = {
    "jatebila": "kɔnti for an account",
    "kɔnna": "three keys instead of a doubtful word for padlocks",
    "bundaw": "suman maralen: the stored grain",
    "tabaski": "Seliba",
    "kunnafoni saba": "kile saba: three keys, not three pieces of news",
    "sanji laban": "the end of the rains is not the end of the AVEC cycle",
    "ka denmisɛnw baara kɛ": "ka denmisɛnw bila baara la: making children work",
}


def fr(lesson_id: str, item_id: str) -> str:
    lesson = MONEY.lesson(lesson_id)
    return lesson.items[lesson.item_index(item_id)].body.text("fr")


def question(lesson_id: str, item_id: str) -> Question:
    lesson = MONEY.lesson(lesson_id)
    item = lesson.items[lesson.item_index(item_id)]
    assert isinstance(item, Question)
    return item


def number(text: str) -> int:
    return int(text.replace(" ", ""))


def find(pattern: str, text: str) -> int:
    """The one amount ``pattern`` (holding AMOUNT once) finds in ``text``."""
    found = re.findall(pattern, text)
    assert len(found) == 1, (pattern, text)
    return number(found[0])


def francs(amount: int) -> str:
    """12345 → '12 345 francs', as the options write amounts."""
    return f"{amount:,}".replace(",", " ") + " francs"


# The lessons this file pins (the v1 lessons, lead-a-savings-group and the course test). The lessons appended after
# them in curriculum v2 (social-protection, gold-mining-household-money) have their own test file.
PINNED = [
    "pre-test",
    "saving-a-little",
    "harvest-year-budget",
    "savings-group",
    "lead-a-savings-group",
    "borrowing-safely",
    "mobile-money-safely",
    "school-costs-and-income",
    "post-test",
]


def all_questions() -> list[tuple[str, Question]]:
    """Every question of the money course (all its lessons)."""
    return [(lesson.id, q) for lesson in MONEY.lessons for q in lesson.questions]


def pinned_questions() -> list[tuple[str, Question]]:
    return [(lesson_id, q) for lesson_id in PINNED for q in MONEY.lesson(lesson_id).questions]


def all_bambara() -> list[tuple[str, str]]:
    """Every Bambara text of the pinned lessons."""
    out = []
    for lesson in map(MONEY.lesson, PINNED):
        out.append((f"{lesson.id}: title", lesson.title.text("bm")))
        for item in lesson.items:
            if isinstance(item, Question):
                out.append((item.id, item.prompt.text("bm")))
                out += [(f"{item.id} feedback", fb.text("bm")) for fb in (item.feedback_correct, item.feedback_wrong)]
                out += [(f"{item.id} option {o.key}", o.label["bm"]) for o in item.options]
            else:
                out.append((item.id, item.body.text("bm")))
    return out


# --- the loan: total cost, yearly rate under the ceiling, repaid when the activity pays -------------------


class Loan:
    """Aminata's loan, read from the lesson's first chunk."""

    def __init__(self, text: str):
        self.lent = find(rf"prête {AMOUNT} francs pour \w+ mois", text)
        self.months = MONTHS[re.search(r"prête [\d ]+ francs pour (\w+) mois", text).group(1)]
        self.fees = find(rf"paie {AMOUNT} francs de frais", text)
        self.repaid = find(rf"rembourse {AMOUNT} francs en une seule fois", text)
        self.interest = find(rf"{AMOUNT} d'intérêt", text)
        self.total_cost = find(rf"coûte donc {AMOUNT} francs en tout", text)


LOAN = Loan(fr("borrowing-safely", "the-real-cost"))


def test_the_loan_total_cost_is_interest_plus_fees_and_adds_up():
    assert LOAN.repaid - LOAN.lent == LOAN.interest
    assert LOAN.interest + LOAN.fees == LOAN.total_cost
    q = question("borrowing-safely", "interest-amount")
    assert q.correct_option.label["fr"] == francs(LOAN.total_cost)
    # the wrong options are the misconceptions: the interest alone ("what is written on the paper"), the sum repaid
    assert {o.label["fr"] for o in q.options if not o.correct} == {francs(LOAN.interest), francs(LOAN.repaid)}
    prompt = q.prompt.text("fr")
    assert all(francs(n) in prompt for n in (LOAN.lent, LOAN.fees, LOAN.repaid))


def test_the_loan_yearly_rate_is_under_the_usury_ceiling():
    per_year = Fraction(12, LOAN.months)
    on_the_sum_lent = Fraction(LOAN.total_cost, LOAN.lent) * per_year
    received = LOAN.lent - LOAN.fees  # the file fee is paid at the start
    on_the_sum_received = Fraction(LOAN.total_cost, received) * per_year
    compounded = (1 + LOAN.total_cost / received) ** float(per_year) - 1
    assert on_the_sum_lent <= on_the_sum_received <= USURY_CEILING_SFD, float(on_the_sum_received)
    assert compounded <= USURY_CEILING_SFD, compounded
    assert on_the_sum_lent == Fraction(18, 100)


def test_the_legal_limit_chunk_says_the_ceiling_and_the_loans_yearly_cost():
    text = fr("borrowing-safely", "legal-limit")
    ceiling = int(re.search(r"plus de (\d+) % par an, tous frais compris", text).group(1))
    assert Fraction(ceiling, 100) == USURY_CEILING_SFD
    lent_for_a_year = find(rf"Pour {AMOUNT} francs rendus en une fois au bout d'un an", text)
    assert find(rf"au plus {AMOUNT} francs", text) == lent_for_a_year * USURY_CEILING_SFD
    assert find(rf"coûte {AMOUNT} francs pour \w+ mois", text) == LOAN.total_cost
    assert find(rf"environ {AMOUNT} francs sur un an", text) == LOAN.total_cost * 12 // LOAN.months
    assert "sous la limite" in text
    assert "chaque mois, la limite en francs est plus basse" in text  # instalments: the rate is on what is owed


def test_the_repayment_follows_the_activity():
    cost = fr("borrowing-safely", "the-real-cost")
    assert "Après la vente des béliers, elle rembourse" in cost and "en une seule fois" in cost
    assert "chaque mois" not in cost
    rule = fr("borrowing-safely", "repay-from-activity")
    assert "Les béliers ne rapportent rien avant la Seliba" in rule
    assert "un seul paiement après la vente" in rule
    assert "boutique" in rule and "chaque mois convient" in rule  # a daily income suits monthly payments
    q = question("borrowing-safely", "repayment-timing")
    assert "après la vente" in q.correct_option.label["fr"]
    assert all("mois" in o.label["fr"] for o in q.options if not o.correct)


def test_the_lesson_asks_for_the_total_cost_and_says_what_to_do_when_late():
    cost = fr("borrowing-safely", "the-real-cost")
    for part in ("coût total", "intérêt", "frais", "assurance", "épargne bloquée"):
        assert part in cost, part
    late = fr("borrowing-safely", "debt-trap")
    for part in ("avant la date", "pénalités", "nouveau calendrier", "ne prenez jamais un nouveau prêt"):
        assert part in late, part
    assert question("borrowing-safely", "new-loan").correct_option.label["fr"] == "Parler à la caisse"


def test_the_old_loan_over_the_ceiling_is_gone():
    texts = " ".join(t for _, t in all_bambara()) + " ".join(
        fr("borrowing-safely", i.id) for i in MONEY.lesson("borrowing-safely").items if not isinstance(i, Question)
    )
    assert "18 000 francs chaque mois" not in texts and "108 000" not in texts


# --- the harvest-year budget: the monthly sum after the shares ---------------------------------------------


def test_the_monthly_share_is_what_remains_after_the_shares_over_twelve_months():
    income = find(rf"il reçoit {AMOUNT} francs CFA", fr("harvest-year-budget", "money-comes-once"))
    plan = fr("harvest-year-budget", "plan-the-months")
    shares = [number(n) for n in re.findall(rf": {AMOUNT} francs\.", plan)]
    assert len(shares) == 4  # seeds and fertiliser, food for the lean season, school, health
    set_aside = find(rf"Ces parts font {AMOUNT} francs", plan)
    assert sum(shares) == set_aside
    monthly, rest = divmod(income - set_aside, 12)
    assert rest == 0
    q = question("harvest-year-budget", "monthly-share")
    assert q.correct_option.label["fr"] == francs(monthly) == "25 000 francs"
    assert francs(income) in q.prompt.text("fr") and francs(set_aside) in q.prompt.text("fr")
    assert francs(income // 12) in {o.label["fr"] for o in q.options if not o.correct}  # forgetting the shares
    assert francs(monthly) in q.feedback_wrong.text("fr")


# --- savings groups ------------------------------------------------------------------------------------


def test_avec_interest_is_set_by_the_group_and_returns_to_the_members():
    box = fr("savings-group", "the-box")
    assert "fixé par le groupe" in box and "revient aux membres" in box
    assert "petit intérêt" not in box
    keys = question("savings-group", "three-keys")
    assert keys.correct_option.label["fr"] == "En réunion, devant tous"
    assert any("présidente" in o.label["fr"] for o in keys.options if not o.correct)  # the box is no one's alone


def test_when_to_save_agrees_with_its_chunk():
    assert "la fin de la semaine" in fr("saving-a-little", "save-first")
    q = question("saving-a-little", "when-to-save")
    texts = [q.prompt.text("fr"), q.feedback_wrong.text("fr"), *(o.label["fr"] for o in q.options)]
    assert not any("fin du mois" in t for t in texts)
    assert any("fin de la semaine" in o.label["fr"] for o in q.options if not o.correct)
    assert "Dɔgɔkun laban" in q.prompt.text("bm") and "Kalo laban" not in q.prompt.text("bm")


def test_lead_a_savings_group_comes_after_savings_group_and_teaches_the_roles_and_rules():
    ids = [lesson.id for lesson in MONEY.teaching]
    assert ids.index("lead-a-savings-group") == ids.index("savings-group") + 1
    lesson = MONEY.lesson("lead-a-savings-group")
    chunks = " ".join(i.body.text("fr") for i in lesson.items if not isinstance(i, Question))
    for part in ("présidente", "secrétaire", "trésorière", "clé", "compteuses", "vote", "chaque cycle", "carnet"):
        assert part in chunks, part
    for part in ("règlement intérieur", "amendes", "à voix haute", "personne ne reste seul avec la caisse ouverte"):
        assert part in chunks, part
    assert 3 <= sum(not isinstance(i, Question) for i in lesson.items) <= 4
    assert len(lesson.questions) >= 3
    assert question("lead-a-savings-group", "who-elects").correct_option.label["fr"] == "Tous les membres, par un vote"


# --- mobile money --------------------------------------------------------------------------------------


def test_mobile_money_through_an_agent_never_needs_your_code():
    text = fr("mobile-money-safely", "check-before-sending")
    assert "agent agréé" in text and "en espèces" in text
    assert "depuis son propre compte" in text
    assert "pas même à l'agent" in text
    assert "faites l'opération chez un agent" not in text  # the old advice, next to "never give your code"
    pin = fr("mobile-money-safely", "your-pin")
    assert "ni à un agent" in pin and "ne vous demande jamais votre code" in pin
    bm = MONEY.lesson("mobile-money-safely").items[1].body.text("bm")
    assert "a yɛrɛ ka kɔnti" in bm and "hali ajan" in bm


# --- questions that test something, in a lighter Bambara -----------------------------------------------


@pytest.mark.parametrize(("lesson_id", "q"), all_questions(), ids=[f"{lid}/{q.id}" for lid, q in all_questions()])
def test_no_option_is_a_joke(lesson_id, q):
    for text in (
        q.prompt.text("fr"),
        q.prompt.text("bm"),
        *(o.label[lang] for o in q.options for lang in ("fr", "bm")),
    ):
        low = text.casefold()
        assert not [joke for joke in JOKE_OPTIONS if joke in low], (q.id, text)


@pytest.mark.parametrize(("lesson_id", "q"), pinned_questions(), ids=[f"{lid}/{q.id}" for lid, q in pinned_questions()])
def test_bambara_questions_use_the_lighter_key_pattern(lesson_id, q):
    bm = q.prompt.text("bm")
    sentences = re.split(r"(?<=[.?!])\s+", bm)
    for option in q.options:
        holding = [s for s in sentences if f"i ka {option.key} digi" in s]
        assert len(holding) == 1, (q.id, option.key)
        assert not re.match(r"Ni a ye\b", holding[0]), (q.id, holding[0])  # "X: i ka N digi." now


def test_retired_bambara_words_are_gone_and_one_spelling_is_used():
    for where, text in all_bambara():
        low = text.casefold()
        for word, why in RETIRED_BAMBARA.items():
            assert word not in low, (where, word, why)
        assert not re.search(r"\bdɔɔni\b", low), (where, "one spelling: dɔɔnin")


def test_each_bambara_correction_is_marked_for_a_native_reader():
    header = Path(COURSES_DIR, "money.yaml").read_text(encoding="utf-8").split("\nid: money", 1)[0]
    assert "NATIVE REVIEW" in header and "i ka 1 digi" in header  # the new question pattern, once at the top
    marked = {
        ("saving-a-little", "ten-weeks"): "pattern",
        ("saving-a-little", "save-first"): "kɔnti",
        ("harvest-year-budget", "money-comes-once"): "bundaw",
        ("harvest-year-budget", "lean-season"): "bila baara la",
        ("savings-group", "the-box"): "Sanji laban",
        ("savings-group", "three-keys"): "Kunnafoni saba",
    }
    for (lesson_id, item_id), word in marked.items():
        lesson = MONEY.lesson(lesson_id)
        notes = " ".join(lesson.items[lesson.item_index(item_id)].native_review)
        assert word in notes, (lesson_id, item_id, word)
    for lesson_id in ("lead-a-savings-group", "borrowing-safely", "mobile-money-safely"):
        assert MONEY.lesson(lesson_id).native_review, lesson_id
    assert any("Seliba" in note for note in MONEY.lesson("borrowing-safely").native_review)


# --- the course's pre-test and post-test ---------------------------------------------------------------


def test_the_pinned_lessons_are_the_course_in_order():
    ids = [lesson.id for lesson in MONEY.lessons]
    assert ids[: len(PINNED) - 1] == PINNED[:-1] and ids[-1] == "post-test"


def test_the_course_test_asks_five_new_questions_on_the_key_facts():
    pre, post = MONEY.test("pretest"), MONEY.test("posttest")
    assert pre is not None and post is not None
    assert MONEY.lessons[0] is pre and MONEY.lessons[-1] is post
    assert [q.id for q in pre.questions] == [q.id for q in post.questions]
    assert len(pre.questions) == 5
    assert {r for r in pre.review.values()} == {"draft"}
    lesson_prompts = {
        q.prompt.text(lang) for lesson in MONEY.teaching for q in lesson.questions for lang in ("fr", "bm")
    }
    for q in pre.questions:
        assert q.prompt.text("fr") not in lesson_prompts and q.prompt.text("bm") not in lesson_prompts, q.id
    correct = {q.id: q.correct_option.label["fr"] for q in pre.questions}
    assert correct == {
        "q-save-first": "Tout de suite",
        "q-budget-shares": "Semences, soudure, école, santé",
        "q-share-out": "Son épargne et une part des gains",
        "q-loan-cost": "Non, 30 000 francs en tout",
        "q-agent-code": "Garder son code",
    }


def test_the_course_test_loan_is_over_the_ceiling_once_fees_are_counted():
    q = next(q for q in MONEY.test("pretest").questions if q.id == "q-loan-cost")
    text = q.prompt.text("fr")
    lent = find(rf"prête {AMOUNT} francs pour un an", text)
    interest = find(rf"L'intérêt écrit est de {AMOUNT} francs", text)
    fees = find(rf"aussi {AMOUNT} francs de frais", text)
    assert Fraction(interest, lent) <= USURY_CEILING_SFD < Fraction(interest + fees, lent)  # the trap: fees
    assert q.correct_option.label["fr"] == f"Non, {francs(interest + fees)} en tout"
    assert francs(int(lent * USURY_CEILING_SFD)) in q.feedback_correct.text("fr")
