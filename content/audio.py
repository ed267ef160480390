"""Which recordings the courses expect, and which exist on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from content.loader import AUDIO_DIR, AUDIO_EXTENSIONS, Catalog
from content.model import LANGUAGES, localized_texts


@dataclass(frozen=True)
class Coverage:
    language: str
    expected: tuple[str, ...]  # recording stems, in listening order
    present: frozenset[str]

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(stem for stem in self.expected if stem not in self.present)

    @property
    def percent(self) -> float:
        return 100.0 * len(self.present) / len(self.expected) if self.expected else 100.0


def find_recording(audio_dir: Path, lang: str, stem: str) -> Path | None:
    """The file for a recording stem, whatever its accepted extension, or None."""
    base = audio_dir / lang
    for ext in AUDIO_EXTENSIONS:
        path = base / f"{stem}{ext}"
        if path.is_file():
            return path
    return None


def expected_recordings(catalog: Catalog, lang: str) -> tuple[str, ...]:
    stems: list[str] = []
    for course in catalog:
        for _, text in localized_texts(course):
            stem = text.recording(lang)
            if stem not in stems:
                stems.append(stem)
    return tuple(stems)


def coverage(catalog: Catalog, audio_dir: Path = AUDIO_DIR) -> list[Coverage]:
    out = []
    for lang in LANGUAGES:
        expected = expected_recordings(catalog, lang)
        present = frozenset(s for s in expected if find_recording(audio_dir, lang, s) is not None)
        out.append(Coverage(language=lang, expected=expected, present=present))
    return out
