"""SMS encoding and cost: GSM-7 or UCS-2, segment counts, and the GSM-only transliteration.

Pure: no Flask, no database. The rules (GSM 03.38, 3GPP TS 23.038 and 23.040):

- A text made only of the GSM 03.38 basic table and its extension table goes as GSM-7: 160 septets
  in one SMS, 153 per segment when concatenated. An extension character (``^ { } \\ [ ~ ] | €`` and
  form feed) is an escape plus a character: it counts 2 septets, and the pair is never split
  across two segments.
- Any other character turns the whole text into UCS-2: 70 UTF-16 code units in one SMS, 67 per
  segment (a surrogate pair, e.g. an emoji, is never split either).

Bambara letters ɛ ɔ ɲ ŋ are not GSM-7. ``to_gsm`` rewrites them in the older spelling (ɛ→è, ɔ→ò,
ɲ→ny, ŋ→ng; capitals E, O, Ny, Ng since È and Ò are not GSM-7) and the French characters that are
not GSM-7 (â ê î ô û ç À È Ò ’ « » – … and friends) as their GSM look-alikes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# GSM 03.38 basic table, in code order 0x00..0x7F; 0x1B (the escape to the extension table) is not a character.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
BASIC = frozenset(GSM_BASIC) - {"\x1b"}
EXTENSION = frozenset("\f^{}\\[~]|€")  # each is ESC + one septet: counts 2

SINGLE = {GSM7: 160, UCS2: 70}
PER_SEGMENT = {GSM7: 153, UCS2: 67}

BAMBARA_TO_GSM = {"ɛ": "è", "ɔ": "ò", "ɲ": "ny", "ŋ": "ng", "Ɛ": "E", "Ɔ": "O", "Ɲ": "Ny", "Ŋ": "Ng"}

# French (and typographic) characters outside GSM-7, and their look-alikes inside it.
FRENCH_TO_GSM = {
    "â": "a", "á": "a", "À": "A", "Â": "A", "Á": "A",
    "ç": "c", "ê": "e", "ë": "e", "È": "E", "Ê": "E", "Ë": "E",
    "î": "i", "ï": "i", "í": "i", "Î": "I", "Ï": "I", "Í": "I", "Ì": "I",
    "ô": "o", "ó": "o", "Ò": "O", "Ô": "O", "Ó": "O",
    "û": "u", "ú": "u", "Ù": "U", "Û": "U", "Ú": "U",
    "ÿ": "y", "Ÿ": "Y", "œ": "oe", "Œ": "OE",
    "’": "'", "‘": "'", "‚": "'", "ʼ": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "–": "-", "—": "-", "‑": "-", "−": "-", "…": "...", "•": "-", "·": ".",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\t": " ",
}  # fmt: skip
TO_GSM = {**FRENCH_TO_GSM, **BAMBARA_TO_GSM}


@dataclass(frozen=True)
class SmsCost:
    encoding: str  # GSM-7 | UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm(text: str) -> bool:
    return all(c in BASIC or c in EXTENSION for c in text)


def _unit_sizes(text: str) -> tuple[str, list[int]]:
    """The encoding, and the indivisible units of the text with their sizes."""
    if is_gsm(text):
        return GSM7, [2 if c in EXTENSION else 1 for c in text]
    return UCS2, [2 if ord(c) > 0xFFFF else 1 for c in text]


def _pack(sizes: list[int], capacity: int) -> int:
    """How many segments of ``capacity`` hold these units in order, never splitting one."""
    segments, used = 1, 0
    for size in sizes:
        if used + size > capacity:
            segments, used = segments + 1, 0
        used += size
    return segments


def cost(text: str) -> SmsCost:
    """Encoding, size and segment count of ``text`` sent as it is (0 segments for an empty text)."""
    encoding, sizes = _unit_sizes(text)
    units = sum(sizes)
    if units == 0:
        return SmsCost(encoding, 0, 0)
    if units <= SINGLE[encoding]:
        return SmsCost(encoding, units, 1)
    return SmsCost(encoding, units, _pack(sizes, PER_SEGMENT[encoding]))


def to_gsm(text: str) -> str:
    """Rewrite Bambara letters and non-GSM French characters as GSM-7 look-alikes.

    Characters with no look-alike (e.g. an emoji) are kept: the text then still needs UCS-2.
    """
    out: list[str] = []
    for c in unicodedata.normalize("NFC", text):
        if c in BASIC or c in EXTENSION:
            out.append(c)
        elif c in TO_GSM:
            out.append(TO_GSM[c])
        elif unicodedata.combining(c):
            continue  # a tone mark left over (ɛ́ has no precomposed form)
        else:
            bare = "".join(d for d in unicodedata.normalize("NFD", c) if not unicodedata.combining(d))
            out.append(bare if bare and is_gsm(bare) else c)
    return "".join(out)


def for_sms(text: str, *, transliterate: bool) -> str:
    """The text as it will be sent under the deployment's ``SMS_TRANSLITERATE`` setting."""
    text = unicodedata.normalize("NFC", text)
    return to_gsm(text) if transliterate else text


class MessageTooLong(ValueError):
    """A text needs more SMS segments than the deployment allows (``SMS_MAX_SEGMENTS``)."""

    def __init__(self, text: str, found: SmsCost, limit: int):
        self.cost, self.limit = found, limit
        preview = text if len(text) <= 40 else text[:37] + "..."
        super().__init__(
            f"SMS too long: {found.segments} segments ({found.encoding}, {found.units} "
            f"{'septets' if found.encoding == GSM7 else 'characters'}), the limit is {limit} "
            f"(SMS_MAX_SEGMENTS): {preview!r}"
        )


def check_length(text: str, settings) -> SmsCost:
    """The cost of ``text`` as it would be sent; raises ``MessageTooLong`` over the segment limit."""
    sent = for_sms(text, transliterate=settings.sms_transliterate)
    found = cost(sent)
    if found.segments > settings.sms_max_segments:
        raise MessageTooLong(sent, found, settings.sms_max_segments)
    return found


def split_to_fit(text: str, encoding_limit_segments: int) -> list[str]:
    """Cut an over-long text at spaces into pieces of at most ``encoding_limit_segments`` segments each.

    A safety net for content that skipped ``flask content check``: nothing is dropped.
    """
    pieces: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and cost(candidate).segments > encoding_limit_segments:
            pieces.append(current)
            candidate = word
        while cost(candidate).segments > encoding_limit_segments:  # one huge word: cut it hard
            n = len(candidate)
            while n > 1 and cost(candidate[:n]).segments > encoding_limit_segments:
                n = n * 3 // 4 if n > 8 else n - 1
            pieces.append(candidate[:n])
            candidate = candidate[n:]
        current = candidate
    if current:
        pieces.append(current)
    return pieces
