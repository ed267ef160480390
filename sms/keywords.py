"""The keyword router: the first word of a text, in Bambara or French, to one of our actions.

Pure (no Flask, no database). Words are compared after ``engine.normalize`` (no case, accents,
punctuation; Bambara letters as their older spellings), so ``ARRÊT``, ``arret!`` and ``Arret``
are the same word. The table comes from ``sms/keywords.yaml`` (or ``SMS_KEYWORDS_FILE``) plus the
Bambara opt-out and opt-in words (``SMS_OPT_OUT_WORD_BM``, ``SMS_OPT_IN_WORD_BM``); its ``languages``
section lists the words that choose a language after ``LANGUE`` / ``KAN`` (1 = Bambara, 2 = French).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.answers import normalize

ACTIONS = ("stop", "start", "quiz", "help", "language", "progress", "suivi")
OPTIONAL_ACTIONS = ("suivi",)  # a deployment's own table may leave these out
LANGUAGE_TAGS = ("any", "fr", "bm")
CONSENT_ACTIONS = ("stop", "start")  # words no course text may contain (sms.authoring)
LANGUAGES_SECTION = "languages"
DEFAULT_FILE = Path(__file__).with_name("keywords.yaml")


class KeywordError(ValueError):
    """The keyword table is malformed (the message says where)."""


@dataclass(frozen=True)
class Command:
    action: str  # one of ACTIONS
    language: str | None  # the keyword's own language (fr, bm), None when it has none
    args: tuple[str, ...]  # the words after the keyword, normalised


class Keywords:
    def __init__(self, table: Mapping[str, tuple[str, str | None]], languages: Mapping[str, str] | None = None):
        self.table = dict(table)  # normalised word -> (action, language)
        self.languages = dict(languages or {})  # normalised word -> language (after LANGUE / KAN)

    @classmethod
    def from_mapping(
        cls, data: object, *, opt_out_word_bm: str = "", opt_in_word_bm: str = "", source: str = "keywords"
    ) -> Keywords:
        if not isinstance(data, Mapping):
            raise KeywordError(f"{source}: expected a mapping of actions to words")
        table: dict[str, tuple[str, str | None]] = {}
        data = dict(data)
        languages = _languages(data.pop(LANGUAGES_SECTION, None), source)

        def add(action: str, tag: str, raw: object) -> None:
            word = normalize(str(raw))
            if not word or " " in word:
                raise KeywordError(f"{source}: {action}.{tag}: {raw!r} is not one word")
            language = None if tag == "any" else tag
            if word in table and table[word][0] != action:
                raise KeywordError(f"{source}: {raw!r} is a keyword of both {table[word][0]} and {action}")
            table[word] = (action, language)

        for action, by_language in data.items():
            if action not in ACTIONS:
                raise KeywordError(f"{source}: unknown action {action!r} (known: {', '.join(ACTIONS)})")
            if not isinstance(by_language, Mapping):
                raise KeywordError(f"{source}: {action}: expected languages (any, fr, bm) with lists of words")
            for tag, words in by_language.items():
                if tag not in LANGUAGE_TAGS or not isinstance(words, list):
                    raise KeywordError(f"{source}: {action}.{tag}: expected a list under any, fr or bm")
                for raw in words:
                    add(action, tag, raw)
        if opt_out_word_bm:
            add("stop", "bm", opt_out_word_bm)
        if opt_in_word_bm:
            add("start", "bm", opt_in_word_bm)
        missing = [a for a in ACTIONS if a not in OPTIONAL_ACTIONS and a not in {v[0] for v in table.values()}]
        if missing:
            raise KeywordError(f"{source}: no keyword for {', '.join(missing)}")
        return cls(table, languages)

    @classmethod
    def from_file(
        cls, path: Path | str | None = None, *, opt_out_word_bm: str = "", opt_in_word_bm: str = ""
    ) -> Keywords:
        path = Path(path) if path else DEFAULT_FILE
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise KeywordError(f"{path}: cannot read the keywords ({exc.__class__.__name__})") from exc
        return cls.from_mapping(data, opt_out_word_bm=opt_out_word_bm, opt_in_word_bm=opt_in_word_bm, source=str(path))

    @classmethod
    def from_settings(cls, settings) -> Keywords:
        """The deployment's table: ``SMS_KEYWORDS_FILE`` (or the shipped one) and the Bambara consent words."""
        return cls.from_file(
            settings.sms_keywords_file or None,
            opt_out_word_bm=settings.sms_opt_out_word_bm,
            opt_in_word_bm=settings.sms_opt_in_word_bm,
        )

    def route(self, text: str) -> Command | None:
        """The command a text starts with, or None when its first word is no keyword. Never raises."""
        words = normalize(text or "").split()
        if not words or words[0] not in self.table:
            return None
        action, language = self.table[words[0]]
        return Command(action, language, tuple(words[1:]))

    def words(self, action: str) -> list[str]:
        return sorted(w for w, (a, _) in self.table.items() if a == action)

    def language_of(self, word: str) -> str | None:
        """The language a word after LANGUE / KAN chooses (``1``, ``bm``, ``bambara``... -> bm), or None."""
        return self.languages.get(normalize(word or ""))


def _languages(data: object, source: str) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise KeywordError(f"{source}: {LANGUAGES_SECTION}: expected languages (fr, bm) with lists of words")
    out: dict[str, str] = {}
    for tag, words in data.items():
        if tag not in LANGUAGE_TAGS[1:] or not isinstance(words, list):
            raise KeywordError(f"{source}: {LANGUAGES_SECTION}.{tag}: expected a list under fr or bm")
        for raw in words:
            word = normalize(str(raw))
            if not word or " " in word:
                raise KeywordError(f"{source}: {LANGUAGES_SECTION}.{tag}: {raw!r} is not one word")
            if out.get(word, tag) != tag:
                raise KeywordError(f"{source}: {raw!r} chooses both {out[word]} and {tag}")
            out[word] = tag
    return out
