"""The campaign pages' words: states, delivery statuses and weekdays in French (translated by Flask-Babel), and
the campaigns package's English messages (validation errors, cost lines) rendered in French when they are known
(an unknown one is shown as it is)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from campaigns.models import Campaign, CampaignState, DeliveryStatus
from campaigns.service import FieldError

DAY_WORDS = {
    "mon": _l("lundi"), "tue": _l("mardi"), "wed": _l("mercredi"), "thu": _l("jeudi"), "fri": _l("vendredi"),
    "sat": _l("samedi"), "sun": _l("dimanche"),
}  # fmt: skip


STATE_WORDS = {
    CampaignState.DRAFT: _l("brouillon"),
    CampaignState.SCHEDULED: _l("programmée"),
    CampaignState.RUNNING: _l("en cours"),
    CampaignState.PAUSED: _l("en pause"),
    CampaignState.FINISHED: _l("terminée"),
    CampaignState.CANCELLED: _l("annulée"),
}
STATUS_WORDS = {
    DeliveryStatus.PENDING: _l("en attente"),
    DeliveryStatus.SENDING: _l("en cours d'envoi"),
    DeliveryStatus.QUEUED: _l("chez l'opérateur"),
    DeliveryStatus.SENT: _l("envoyé"),
    DeliveryStatus.DELIVERED: _l("reçu"),
    DeliveryStatus.ANSWERED: _l("répondu"),
    DeliveryStatus.NO_ANSWER: _l("pas de réponse"),
    DeliveryStatus.BUSY: _l("occupé"),
    DeliveryStatus.FAILED: _l("échec"),
    DeliveryStatus.OPTED_OUT: _l("désinscrit"),
    DeliveryStatus.CANCELLED: _l("annulé"),
    DeliveryStatus.UNKNOWN: _l("inconnu"),
}


def state_word(campaign: Campaign) -> str:
    return str(STATE_WORDS[campaign.state])


# Known messages of ``validate_definition`` in French (the others are shown as they are, in English).
MESSAGES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"this time has passed \((?P<when>[^)]*)\)", re.I),
    _l("Cette heure est passée (%(when)s) : choisissez une heure plus tard, ou « Maintenant »."),
    ),
    (re.compile(r"choose who receives it", re.I),
     _l("Choisissez qui reçoit la campagne (des groupes, des lieux…), ou cochez « Tout le monde »."),
    ),
    (re.compile(r"unknown group\(s\): (?P<names>.+)$", re.I), _l("Groupe(s) inconnu(s) : %(names)s.")),
    (re.compile(r"^required$", re.I), _l("Obligatoire.")),
    (re.compile(r"'send now' was chosen more than (?P<n>\d+) minutes ago"),
     _l("« Maintenant » a été choisi il y a plus de %(n)s minutes : modifiez la campagne et choisissez à nouveau "
        "« Maintenant », ou une heure.")),
    (re.compile(r"^cannot (?P<action>\w+) campaign .*: it is (?P<state>\w+)$"),
     _l("Ce n'est pas possible : la campagne est « %(state)s ».")),
    (re.compile(r"^at most (?P<n>\d+) characters$"), _l("Au plus %(n)s caractères.")),
    (re.compile(r"^must be voice or sms"), _l("Choisissez SMS ou appel vocal.")),
    (re.compile(r"^a voice campaign calls listeners with a lesson"),
     _l("Un appel vocal fait écouter une leçon : choisissez la leçon.")),
    (re.compile(r"^expected course/lesson|^no lesson .* in the content$"), _l("Choisissez une leçon de la liste.")),
    (re.compile(r"^expected a text in both languages"), _l("Écrivez le message dans cette langue.")),
    (re.compile(r"^SMS too long: (?P<n>\d+) segments .*the limit is (?P<max>\d+)"),
     _l("Trop long : %(n)s SMS, au plus %(max)s. Raccourcissez le texte.")),
    (re.compile(r"^expected HH:MM"), _l("Une heure comme 18:00.")),
    (re.compile(r"^expected a local date and time"), _l("Choisissez une date et une heure, ou « Maintenant ».")),
    (re.compile(r"^expected YYYY-MM-DD"), _l("Une date comme 2026-12-01.")),
    (re.compile(r"^expected weekdays"), _l("Cochez au moins un jour.")),
    (re.compile(r"^ends before it starts"), _l("La fin est avant le début.")),
    (re.compile(r"^this date has passed \((?P<when>[^)]*)\)"),
     _l("Cette date est passée (%(when)s) : choisissez une date plus tard.")),
    (re.compile(r"^expected a non-empty list of steps"), _l("Donnez au moins un jour, par exemple 0.")),
    (re.compile(r"^step (?P<n>\d+): day: expected a whole number"),
     _l("Jour n° %(n)s : un nombre entier de jours, 0 ou plus.")),
    (re.compile(r"^days must be in increasing order"),
     _l("Donnez les jours dans l'ordre, du plus petit au plus grand.")),
    (re.compile(r"^must be a whole number$"), _l("Un nombre entier.")),
    (re.compile(r"^must be between (?P<a>\d+) and (?P<b>\d+)$"), _l("Entre %(a)s et %(b)s.")),
    (re.compile(r"^choose either 'everyone' or filters, not both"),
     _l("Choisissez « Tout le monde » ou des conditions, pas les deux.")),
    (re.compile(r"^must be bm or fr"), _l("Bambara ou français.")),
]  # fmt: skip


def error_text(error: FieldError) -> str:
    message = error.message
    if message.startswith(f"{error.field}: "):
        message = message[len(error.field) + 2 :]
    for pattern, french in MESSAGES:
        if found := pattern.search(message):
            values = dict(found.groupdict())
            if "state" in values and values["state"] in {s.value for s in CampaignState}:
                values["state"] = str(STATE_WORDS[CampaignState(values["state"])])
            return str(french) % values
    return message


# The estimate's lines and notes (campaigns.estimate, in English) in French; an unknown one is shown as it is.
LANGUAGE_WORDS = {"bm": _l("bambara"), "fr": _l("français")}
COST_WORDS: list[tuple[re.Pattern, object]] = [
    (re.compile(r"^SMS (?P<lang>\w+): (?P<n>\d+) listener\(s\) × (?P<m>\d+) segment\(s\)$"),
     _l("SMS en %(lang)s : %(n)s personne(s) × %(m)s segment(s)")),
    (re.compile(r"^calls (?P<lang>\w+): (?P<n>\d+) listener\(s\) × (?P<m>\d+) min$"),
     _l("Appels en %(lang)s : %(n)s personne(s) × %(m)s min")),
    (re.compile(r"^segments counted as sent \(Bambara letters transliterated\)$"),
     _l("Segments comptés tels qu'ils partent (lettres bambara remplacées).")),
    (re.compile(r"^segments counted as sent \(no transliteration\)$"),
     _l("Segments comptés tels qu'ils partent (sans remplacer de lettres).")),
    (re.compile(r"^(?P<lang>\w+): (?P<min>[\d.]+) min from the recordings' durations$"),
     _l("Leçon en %(lang)s : %(min)s min, d'après la durée des enregistrements.")),
    (re.compile(r"^(?P<lang>\w+): (?P<min>[\d.]+) min from the words at (?P<wpm>\d+) words a minute$"),
     _l("Leçon en %(lang)s : %(min)s min, d'après le nombre de mots (%(wpm)s mots par minute).")),
    (re.compile(r"^upper bound: every call answered"),
     _l("Au plus : comme si chaque appel était décroché (une fois) ; les appels sans réponse et les nouveaux "
        "essais ne sont pas facturés.")),
    (re.compile(r"^up to (?P<n>\d+) retries per listener cost nothing unless answered$"),
     _l("Jusqu'à %(n)s nouveaux essais par personne : gratuits tant qu'ils ne sont pas décrochés.")),
    (re.compile(r"^(?P<n>\d+) runs$"), _l("%(n)s envois.")),
    (re.compile(r"^tariffs of (?P<provider>\S+) from TARIFFS"),
     _l("Tarifs de %(provider)s (réglage TARIFFS, en FCFA ; ceux par défaut sont approximatifs : demandez les "
        "vôtres à l'opérateur).")),
]  # fmt: skip


def cost_words(text: str) -> str:
    for pattern, french in COST_WORDS:
        if found := pattern.search(text):
            values = dict(found.groupdict())
            if "lang" in values:
                values["lang"] = str(LANGUAGE_WORDS.get(values["lang"], values["lang"]))
            return str(french) % values
    return text
