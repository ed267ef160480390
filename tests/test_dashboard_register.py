"""Registering a listener and importing a CSV file on the dashboard: who may open what (role × page × scope),
what a registration writes (listener, consent history, language set by the user, audit), duplicates by phone
without leaking another agent's listener, an agent kept inside their scope, the import report by line."""

from __future__ import annotations

import html
import io

import pytest
from sqlalchemy import func, select

from accounts.models import AuditEvent
from accounts.roles import Role, ScopeKind
from core.db import db
from listeners.models import ConsentEvent, Group, Listener
from tests.conftest import NOW
from tests.dashboard_support import csrf_token, post, sign_in

REGISTER = "/dashboard/register"
IMPORT = "/dashboard/import"


def _text(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def people(make_user, make_listener):
    """Two villages, a group each, a listener in each, and one user of each kind (agents on either side)."""
    coop = Group(name="coop-kaniko", created_at=NOW)
    miners = Group(name="orpailleurs", created_at=NOW)
    db.session.add_all([coop, miners])
    db.session.flush()
    awa = make_listener(phone="+22376123456", name="Awa Traoré", village="Kaniko", commune="Koutiala", groups=[coop])
    seydou = make_listener(phone="+22350112233", name="Seydou Coulibaly", village="Molobala", groups=[miners])
    db.session.commit()
    users = {
        "admin": make_user(Role.ADMIN),
        "manager": make_user(Role.MANAGER),
        "agent_in": make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Kaniko"), (ScopeKind.GROUP, coop.id)]),
        "agent_out": make_user(Role.AGENT, scopes=[(ScopeKind.VILLAGE, "Molobala")]),
        "viewer": make_user(Role.VIEWER),
    }
    return {"awa": awa, "seydou": seydou, "coop": coop, "miners": miners, **users}


# --- who may open what ------------------------------------------------------------------------------------

PAGES = ["register", "consent", "import", "done"]
# role -> expected status per page; "done" shows Awa (village Kaniko): agent_out answers 404 (out of scope = absent)
MATRIX = {
    "admin": {"register": 200, "consent": 200, "import": 200, "done": 200},
    "manager": {"register": 200, "consent": 200, "import": 200, "done": 200},
    "agent_in": {"register": 200, "consent": 200, "import": 200, "done": 200},
    "agent_out": {"register": 200, "consent": 200, "import": 200, "done": 404},
    "viewer": {"register": 403, "consent": 403, "import": 403, "done": 403},
    "anonymous": {"register": 302, "consent": 302, "import": 302, "done": 302},
}


@pytest.mark.parametrize("role", list(MATRIX))
def test_role_page_scope_matrix(backend, client, people, role):
    urls = {
        "register": REGISTER,
        "consent": f"{REGISTER}/consent?language=bm",
        "import": IMPORT,
        "done": f"{REGISTER}/done/{people['awa'].id}",
    }
    if role != "anonymous":
        assert sign_in(client, people[role]).status_code == 302
    got = {page: client.get(urls[page]).status_code for page in PAGES}
    assert got == MATRIX[role]
    missing = client.get(f"{REGISTER}/done/999999").status_code
    assert missing == {"viewer": 403, "anonymous": 302}.get(role, 404)
    # the POSTs are guarded the same way (with a valid CSRF token)
    token = csrf_token(client) if role == "anonymous" else csrf_token(client, "/dashboard/")
    posted = client.post(REGISTER, data={"csrf_token": token}).status_code
    assert posted == {"viewer": 403, "anonymous": 302}.get(role, 400)  # 400: the empty form's errors


def test_the_menu_offers_registering_and_importing_to_those_who_may(client, people):
    sign_in(client, people["agent_in"])
    page = _text(client.get("/dashboard/"))
    assert f'href="{REGISTER}"' in page and f'href="{IMPORT}"' in page
    client.post("/dashboard/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    sign_in(client, people["viewer"])
    page = _text(client.get("/dashboard/"))
    assert f'href="{REGISTER}"' not in page and f'href="{IMPORT}"' not in page


# --- registering ---------------------------------------------------------------------------------------------


def _form(**overrides) -> dict:
    data = {"phone": "70 11 22 33", "name": "Fatoumata Diallo", "village": " kaniko ", "commune": "Koutiala",
            "region": "", "language": "bm", "consent": "y"}  # fmt: skip
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_an_agent_registers_a_listener_in_their_village_with_consent(backend, client, people):
    agent = people["agent_in"]
    sign_in(client, agent)
    form = client.get(REGISTER)
    page = _text(form)
    assert 'value="Kaniko"' in page  # the agent's one village, already typed
    assert "BANNI ci SMS fɛ" in page  # the consent sentence in Bambara, the default language
    assert f'value="{people["coop"].id}"' in page and "orpailleurs" not in page  # only the agent's groups
    answer = post(client, REGISTER, _form(groups=str(people["coop"].id)), page=REGISTER)
    assert answer.status_code == 302
    listener = db.session.scalars(select(Listener).filter_by(phone="+22370112233")).one()
    assert answer.headers["Location"] == f"{REGISTER}/done/{listener.id}"
    expected = ("Fatoumata Diallo", "kaniko", "Koutiala", "", "bm", f"user:{agent.id}", NOW, "agent", NOW)
    got = (listener.name, listener.village, listener.commune, listener.region, listener.language,
           listener.language_set_by, listener.consent_at, listener.consent_channel, listener.created_at)  # fmt: skip
    assert got == expected
    assert [g.name for g in listener.groups] == ["coop-kaniko"]
    events = db.session.execute(select(ConsentEvent.listener_id, ConsentEvent.action, ConsentEvent.channel,
                                       ConsentEvent.user_id, ConsentEvent.at)).all()  # fmt: skip
    assert events == [(listener.id, "consent", "agent", agent.id, NOW)]
    [event] = _audit("listener_registered")
    assert (event.user_id, event.target, event.at) == (agent.id, f"listener:{listener.id}", NOW)
    assert event.detail == {"phone": "+2237011****", "village": "kaniko", "language": "bm",
                            "groups": [people["coop"].id]}  # fmt: skip
    done = client.get(answer.headers["Location"])
    assert done.status_code == 200 and "Fatoumata Diallo" in _text(done) and "+2237011****" in _text(done)
    assert "+22370112233" not in _text(done)


@pytest.mark.parametrize(
    ("who", "phone", "shown", "hidden"),
    [
        ("agent_in", "0022376123456", "Ce numéro est déjà inscrit : Awa Traoré, Kaniko.", "Seydou"),
        ("manager", "+223 50 11 22 33", "Ce numéro est déjà inscrit : Seydou Coulibaly, Molobala.", "Awa"),
        ("agent_in", "50 11 22 33", "Ce numéro est déjà inscrit, hors de votre zone.", "Seydou"),
        ("agent_out", "76123456", "Ce numéro est déjà inscrit, hors de votre zone.", "Awa"),
    ],
)
def test_a_number_already_registered_is_refused_without_leaking_who_has_it(
    backend, client, people, who, phone, shown, hidden
):
    sign_in(client, people[who])
    answer = post(client, REGISTER, _form(phone=phone, village="Kaniko" if who != "agent_out" else "Molobala"),
                  page=REGISTER)  # fmt: skip
    page = _text(answer)
    assert answer.status_code == 400
    assert shown in page and hidden not in page
    assert page.index(shown) > page.index('name="phone"')  # next to the phone field
    assert "Molobala" not in page or who != "agent_in"
    assert _count(Listener) == 2 and _audit("listener_registered") == []


def test_a_duplicate_is_said_at_once_with_a_link_to_the_record_only_in_scope(app, client, people):
    sign_in(client, people["agent_in"])
    page = _text(post(client, REGISTER, _form(phone="76 12 34 56", consent=None, name=""), page=REGISTER))
    assert "Ce numéro est déjà inscrit : Awa Traoré, Kaniko." in page  # before the consent box is ticked
    assert f'<a href="/dashboard/listeners/{people["awa"].id}">Ouvrir la fiche de Awa Traoré</a>' in page
    page = _text(post(client, REGISTER, _form(phone="50 11 22 33", consent=None), page=REGISTER))
    assert "Ce numéro est déjà inscrit, hors de votre zone." in page
    assert "Ouvrir la fiche" not in page and "Seydou" not in page


@pytest.mark.parametrize(
    ("who", "overrides", "field", "error"),
    [
        ("agent_in", {"village": "Molobala"}, "village", "Ce village n'est pas dans votre zone"),
        ("agent_out", {"village": "Kaniko"}, "village", "Ce village n'est pas dans votre zone"),
        ("agent_in", {"consent": None}, "consent", "Lisez la phrase à la personne, puis cochez"),
        ("manager", {"consent": None}, "consent", "Lisez la phrase à la personne, puis cochez"),
        ("agent_in", {"phone": "12 34"}, "phone", "Ce numéro n'est pas valide"),
        ("agent_in", {"phone": ""}, "phone", "Le numéro est obligatoire."),
        ("agent_in", {"name": " "}, "name", "Le nom est obligatoire."),
        ("agent_in", {"language": "en"}, "language", "Choisissez la langue."),
        ("agent_in", {"groups": "miners"}, "groups", "Choisissez parmi vos groupes."),
    ],
)
def test_a_refused_registration_says_why_next_to_the_field_and_writes_nothing(
    backend, client, people, who, overrides, field, error
):
    if overrides.get("groups") == "miners":
        overrides = {"groups": str(people["miners"].id)}  # another agent's group
    sign_in(client, people[who])
    answer = post(client, REGISTER, _form(**overrides), page=REGISTER)
    page = _text(answer)
    assert answer.status_code == 400
    assert error in page
    if field in ("village", "phone", "name", "consent"):
        start = page.index(f'name="{field}"')
        block = page[page.rindex('<div class="field', 0, start) : page.index("</div>", start)]
        assert "has-error" in block and error in block
    assert _count(Listener) == 2 and _count(ConsentEvent) == 0 and _audit("listener_registered") == []


def test_a_manager_registers_anywhere_and_into_any_group(client, people):
    sign_in(client, people["manager"])
    answer = post(client, REGISTER, _form(village="Sanso", language="fr", groups=str(people["miners"].id)),
                  page=REGISTER)  # fmt: skip
    assert answer.status_code == 302
    listener = db.session.scalars(select(Listener).filter_by(phone="+22370112233")).one()
    assert (listener.village, listener.language, [g.name for g in listener.groups]) == ("Sanso", "fr", ["orpailleurs"])


def test_an_agent_covering_a_group_may_register_into_it_outside_their_villages(client, people):
    sign_in(client, people["agent_in"])
    answer = post(client, REGISTER, _form(village="Sanso", groups=str(people["coop"].id)), page=REGISTER)
    assert answer.status_code == 302


@pytest.mark.parametrize(
    ("language", "words", "absent"),
    [
        ("bm", ["Kalanso ye kalan ye", "BANNI ci SMS fɛ", "i ka 9 digi"], "STOP"),
        ("fr", ["Kalanso est un service gratuit", "envoyez STOP par SMS", "tapez 9 pendant un appel"], "BANNI"),
        ("xx", ["Kalanso est un service gratuit"], "BANNI"),
    ],
)
def test_the_consent_sentence_comes_in_the_persons_language(client, people, language, words, absent):
    sign_in(client, people["agent_in"])
    partial = _text(client.get(f"{REGISTER}/consent?language={language}"))
    assert partial.startswith('<blockquote class="consent" id="consent-sentence"')
    assert all(w in partial for w in words) and absent not in partial
    page = _text(post(client, REGISTER, _form(language="fr", consent=None), page=REGISTER))
    assert "envoyez STOP par SMS" in page  # after an error, the sentence of the language chosen


def test_the_register_page_is_in_english_for_an_english_user(client, people):
    people["agent_in"].locale = "en"
    db.session.commit()
    sign_in(client, people["agent_in"])
    page = _text(client.get(REGISTER))
    assert "Register a listener" in page and "The person heard this sentence and agrees." in page
    assert "BANNI ci SMS fɛ" in page  # the sentence itself stays in the listener's language


def test_registering_without_the_csrf_token_is_refused(client, people):
    sign_in(client, people["agent_in"])
    assert client.post(REGISTER, data=_form()).status_code == 400
    assert _count(Listener) == 2


# --- importing ------------------------------------------------------------------------------------------------

AGENT_FILE = """phone;name;village;language;groups
70 11 22 33;Fatoumata;Kaniko;bm;
70 11 22 34;Oumar;Molobala;fr;
70 11 22 35;Mariam;Sanso;;coop-kaniko
70 11 22 36;Ali;Sanso;;orpailleurs
50 11 22 33;Seydou;Kaniko;;
76 12 34 56;Awa T.;;fr;
"""


def _upload(client, text: str | bytes, partial: bool = False, name: str = "people.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    form = {"file": (io.BytesIO(data), name), "csrf_token": csrf_token(client, IMPORT)}
    if partial:
        form["partial"] = "y"
    return client.post(IMPORT, data=form, content_type="multipart/form-data")


def test_an_agents_import_outside_their_scope_imports_nothing_and_says_which_lines(backend, client, people):
    sign_in(client, people["agent_in"])
    answer = _upload(client, AGENT_FILE)
    page = _text(answer)
    assert answer.status_code == 400
    assert "Rien n'a été importé" in page and "Lignes avec un problème : 3." in page
    assert "Ligne 3 : Ce village, cette commune, cette région ou ce groupe n'est pas dans votre zone." in page
    assert "Ligne 5 : Groupe inconnu, ou pas un de vos groupes : orpailleurs." in page
    assert "Ligne 6 : Ce numéro est déjà inscrit, hors de votre zone." in page
    assert "Seydou Coulibaly" not in page and "Molobala" not in page.split("Ligne 3")[1].split("</li>")[0]
    assert page.count("<li>Ligne ") == 3
    assert _count(Listener) == 2 and _audit("listeners_imported") == []


def test_an_agent_may_import_the_good_rows_only(backend, client, people):
    agent = people["agent_in"]
    awa = people["awa"]
    awa.set_language("bm", "voice")
    db.session.commit()
    sign_in(client, agent)
    answer = _upload(client, AGENT_FILE, partial=True)
    page = _text(answer)
    assert answer.status_code == 200, page
    assert "Nouveaux : 2" in page and "Mis à jour : 1" in page and "Lignes laissées de côté : 3" in page
    assert "Langues gardées (choisies par la personne au téléphone) : 1" in page
    assert page.count("<li>Ligne ") == 3  # the rows left out, still listed
    phones = set(db.session.scalars(select(Listener.phone)))
    assert phones == {"+22376123456", "+22350112233", "+22370112233", "+22370112235"}
    mariam = db.session.scalars(select(Listener).filter_by(phone="+22370112235")).one()
    assert [g.name for g in mariam.groups] == ["coop-kaniko"]
    db.session.refresh(awa)
    assert (awa.name, awa.language, awa.language_set_by) == ("Awa T.", "bm", "voice")
    seydou = db.session.get(Listener, people["seydou"].id)
    assert (seydou.name, seydou.village) == ("Seydou Coulibaly", "Molobala")  # another agent's: untouched
    [event] = _audit("listeners_imported")
    assert (event.user_id, event.at) == (agent.id, NOW)
    assert event.detail == {"created": 2, "updated": 1, "bad_rows": 3, "language_kept": 1, "groups_created": 0,
                            "encoding": "utf-8"}  # fmt: skip
    consents = db.session.execute(select(ConsentEvent.channel, ConsentEvent.user_id)).all()
    assert consents == [("import", agent.id)] * 2


def test_a_manager_imports_anywhere_and_creates_groups(backend, client, people):
    sign_in(client, people["manager"])
    text = "\ufeffphone,name,village,groups\n70112233,Fatoumata,Sanso,nouveau-groupe\n50112233,,Kaniko,\n"
    answer = _upload(client, text)
    page = _text(answer)
    assert answer.status_code == 200, page
    assert "Nouveaux : 1" in page and "Mis à jour : 1" in page and "Groupes créés : 1" in page
    assert db.session.get(Listener, people["seydou"].id).village == "Kaniko"
    assert _count(Group) == 3
    assert _audit("listeners_imported")[0].detail["groups_created"] == 1


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ("phone\n7612".encode("utf-16"), "Ce fichier n'est pas un texte CSV"),
        (b"", "Le fichier est vide."),
        ("nom;village\nAwa;Kaniko\n", "Ligne 1 : La première ligne doit nommer une colonne « phone »"),
    ],
)
def test_a_file_that_cannot_be_read_is_explained(client, people, data, error):
    sign_in(client, people["manager"])
    answer = _upload(client, data)
    assert answer.status_code == 400 and error in _text(answer)
    assert _count(Listener) == 2


def test_a_windows_file_is_read_and_the_lost_letters_are_explained(client, people):
    sign_in(client, people["manager"])
    answer = _upload(client, "phone;name;village\n70112233;Kéniéba;Sanso\n".encode("cp1252"))
    assert answer.status_code == 200
    assert "les lettres bambara ɛ ɔ ɲ ŋ n'ont pas pu y être" in _text(answer)
    assert db.session.scalars(select(Listener.name).filter_by(phone="+22370112233")).one() == "Kéniéba"


def test_an_upload_without_a_file_says_so_next_to_the_field(client, people):
    sign_in(client, people["agent_in"])
    answer = client.post(IMPORT, data={"csrf_token": csrf_token(client, IMPORT)}, content_type="multipart/form-data")
    assert answer.status_code == 400 and "Choisissez un fichier." in _text(answer)
