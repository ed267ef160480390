"""French audio for every French text, made offline with eSpeak NG (``flask content audio``, ``make audio``).

The voice line needs a recording for every text it plays. Bambara has no usable synthetic voice, so
its recordings are made by people; French ones can be synthesised, so that the French voice line
works end to end on a fresh deployment. Generated files are a build product: they live under
``content/audio/_generated/<lang>/`` (ignored by git), next to a ``manifest.json`` that records a
hash of the text and voice each file was made from. A run only synthesises what is missing or whose
text changed, so ``make run`` can call it every time. A human recording always wins: a stem that
has one is not generated, and ``content.audio.find_recording`` looks at recordings first.

The engine is eSpeak NG as shipped inside the ``espeakng-loader`` wheel (library and voice data),
driven through ctypes: nothing to install from the system. Output: WAV, mono, 16 kHz, 16-bit PCM,
which Twilio and Africa's Talking both play.
"""

from __future__ import annotations

import array
import ctypes
import hashlib
import io
import json
import os
import threading
import wave
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from content.loader import Catalog
from content.model import localized_texts
from content.recordings import GENERATED_DIR, find_recorded

MANIFEST = "manifest.json"
SAMPLE_RATE = 16_000
VOICES = {"fr": "fr"}  # languages we can synthesise -> eSpeak NG voice name
WORDS_PER_MINUTE = 140  # a little slower than eSpeak's default (175): clearer on a phone line


def generated_dir(audio_dir: Path, lang: str) -> Path:
    return audio_dir / GENERATED_DIR / lang


class Synthesizer(Protocol):
    """Turns one text into a WAV file's bytes (mono, 16-bit PCM)."""

    voice_id: str  # changes when the same text would sound different (engine, voice, speed)

    def synthesize(self, text: str, lang: str) -> bytes: ...


class EspeakNG:
    """eSpeak NG through ctypes, from the ``espeakng-loader`` wheel. One instance per process is enough."""

    _lock = threading.Lock()  # the C library keeps global state
    _lib = None
    _rate = 0

    def __init__(self, words_per_minute: int = WORDS_PER_MINUTE):
        self.words_per_minute = words_per_minute
        self.voice_id = f"espeak-ng:{words_per_minute}wpm:{SAMPLE_RATE}Hz"

    @classmethod
    def _library(cls):
        if cls._lib is None:
            try:
                import espeakng_loader
            except ImportError as exc:  # pragma: no cover - the dependency is pinned in requirements.txt
                raise RuntimeError("espeakng-loader is not installed: run `make install`") from exc
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_Synth.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_uint,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.c_uint,
                ctypes.c_void_p,
                ctypes.c_void_p,
            ]
            audio_output_retrieval = 1
            rate = lib.espeak_Initialize(audio_output_retrieval, 0, espeakng_loader.get_data_path().encode(), 0)
            if rate <= 0:
                raise RuntimeError("eSpeak NG could not start (voice data not found)")
            cls._lib, cls._rate = lib, rate
        return cls._lib

    def synthesize(self, text: str, lang: str) -> bytes:
        voice = VOICES.get(lang)
        if voice is None:
            raise ValueError(f"no synthetic voice for language {lang!r} (only {', '.join(VOICES)})")
        samples = array.array("h")

        @ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        def collect(wav, count, _events):
            if count > 0:
                samples.frombytes(ctypes.string_at(wav, count * 2))
            return 0

        with self._lock:
            lib = self._library()
            lib.espeak_SetSynthCallback(collect)
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise RuntimeError(f"eSpeak NG has no voice {voice!r}")
            espeak_rate = 1
            lib.espeak_SetParameter(espeak_rate, self.words_per_minute, 0)
            data = text.encode("utf-8")
            chars_utf8, end_pause = 1, 0x1000
            if lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, chars_utf8 | end_pause, None, None) != 0:
                raise RuntimeError("eSpeak NG failed to synthesise a text")
            lib.espeak_Synchronize()
            source_rate = self._rate
        if not samples:
            raise RuntimeError("eSpeak NG produced no audio")
        return wav_bytes(resample(samples, source_rate, SAMPLE_RATE), SAMPLE_RATE)


def resample(samples: array.array, source_rate: int, target_rate: int) -> array.array:
    """Linear-interpolation resampling of 16-bit mono samples (enough for speech on a phone line)."""
    if source_rate == target_rate:
        return array.array("h", samples)
    n_out = max(1, len(samples) * target_rate // source_rate)
    step = source_rate / target_rate
    last = len(samples) - 1
    out = array.array("h", bytes(2 * n_out))
    for i in range(n_out):
        pos = i * step
        j = int(pos)
        if j >= last:
            out[i] = samples[last]
            continue
        frac = pos - j
        a = samples[j]
        out[i] = int(a + (samples[j + 1] - a) * frac)
    return out


def wav_bytes(samples: array.array, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return buffer.getvalue()


def text_hash(text: str, voice_id: str) -> str:
    return hashlib.sha256(f"{voice_id}\n{text}".encode()).hexdigest()[:16]


def texts_by_stem(catalog: Catalog, lang: str) -> dict[str, str]:
    """Each recording stem of ``lang`` and the text it speaks (the first one, if a stem is shared)."""
    out: dict[str, str] = {}
    for course in catalog:
        for _, localized in localized_texts(course):
            out.setdefault(localized.recording(lang), localized.text(lang))
    return out


def read_manifest(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


@dataclass
class GenerateReport:
    language: str
    made: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)  # a human recording exists: nothing generated
    removed: list[str] = field(default_factory=list)  # generated files no text uses any more


def generate(
    catalog: Catalog,
    audio_dir: Path,
    lang: str = "fr",
    synthesizer: Synthesizer | None = None,
    *,
    force: bool = False,
    progress=None,
    extra: dict[str, str] | None = None,
) -> GenerateReport:
    """Synthesise every missing or outdated ``lang`` recording; idempotent.

    ``extra`` adds texts that are not in the courses (the voice line's prompts), by recording stem."""
    synthesizer = synthesizer or EspeakNG()
    folder = generated_dir(audio_dir, lang)
    manifest = read_manifest(folder)
    report = GenerateReport(language=lang)
    wanted = {**texts_by_stem(catalog, lang), **(extra or {})}
    new_manifest: dict[str, str] = {}
    for stem, text in wanted.items():
        if find_recorded(audio_dir, lang, stem) is not None:
            report.recorded.append(stem)
            continue
        path = folder / f"{stem}.wav"
        digest = text_hash(text, synthesizer.voice_id)
        if not force and manifest.get(stem) == digest and path.is_file():
            report.unchanged.append(stem)
            new_manifest[stem] = digest
            continue
        data = synthesizer.synthesize(text, lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".wav.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        new_manifest[stem] = digest
        report.made.append(stem)
        _write_manifest(folder, {**manifest, **new_manifest})  # a crash mid-run keeps what was made
        if progress is not None:
            progress(stem)
    for stem in sorted(set(manifest) - set(new_manifest)):
        stale = folder / f"{stem}.wav"
        if stale.is_file():
            stale.unlink()
        report.removed.append(stem)
    if new_manifest or manifest:
        _write_manifest(folder, new_manifest)
    return report


def outdated(catalog: Catalog, audio_dir: Path, lang: str, stems: Iterable[str], voice_id: str) -> set[str]:
    """Which generated files among ``stems`` were made from another text than the current one."""
    manifest = read_manifest(generated_dir(audio_dir, lang))
    wanted = texts_by_stem(catalog, lang)
    return {s for s in stems if s in wanted and manifest.get(s) != text_hash(wanted[s], voice_id)}


def _write_manifest(folder: Path, manifest: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=0, sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
