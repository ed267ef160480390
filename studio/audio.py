"""A recording made the phone's way: whatever came in (a provider's WAV or MP3, the browser's WebM/Ogg, an uploaded
file) becomes a mono 16 kHz 16-bit WAV, silence trimmed at both ends and loudness normalised (EBU R128, -16 LUFS:
a voice that carries on a phone line), by the ffmpeg binary shipped in the ``imageio-ffmpeg`` wheel. Nothing here
touches the database or the network."""

from __future__ import annotations

import io
import subprocess
import wave
from dataclasses import dataclass

MAX_INPUT_BYTES = 20 * 1024 * 1024  # an upload or a provider's file, before conversion
MIN_SECONDS = 0.5  # shorter (after trimming the silence): nothing was said
MAX_SECONDS = 180.0  # a chunk is under a minute when spoken; three leaves room
SAMPLE_RATE = 16_000
FILTERS = ",".join(
    [
        "silenceremove=start_periods=1:start_threshold=-45dB:start_silence=0.15",  # the silence before the voice
        "areverse",
        "silenceremove=start_periods=1:start_threshold=-45dB:start_silence=0.3",  # and after it
        "areverse",
        "loudnorm=I=-16:TP=-1.5:LRA=11",
    ]
)


class AudioRefused(ValueError):
    """The file cannot be a recording; the message says why, in French, for the person who sent it."""


@dataclass(frozen=True)
class Normalised:
    wav: bytes
    duration_ms: int


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def normalise(data: bytes, *, timeout: float = 60.0) -> Normalised:
    """The recording as the line plays it; ``AudioRefused`` for what is not audio, empty, too short or too long."""
    if not data:
        raise AudioRefused("Le fichier est vide.")
    if len(data) > MAX_INPUT_BYTES:
        raise AudioRefused(f"Le fichier est trop gros (plus de {MAX_INPUT_BYTES // (1024 * 1024)} Mo).")
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", "pipe:0", "-vn", "-af", FILTERS,
               "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", "-f", "wav", "pipe:1"]  # fmt: skip
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioRefused("Le fichier n'a pas pu être lu à temps.") from exc
    if done.returncode != 0 or not done.stdout:
        raise AudioRefused("Ce fichier n'est pas un son lisible (WAV, MP3, OGG ou WebM).")
    wav = _fix_sizes(done.stdout)
    with wave.open(io.BytesIO(wav)) as w:
        seconds = w.getnframes() / w.getframerate()
    if seconds < MIN_SECONDS:
        raise AudioRefused("L'enregistrement est vide ou presque : on n'entend rien.")
    if seconds > MAX_SECONDS:
        raise AudioRefused(f"L'enregistrement dure plus de {int(MAX_SECONDS // 60)} minutes : coupez-le.")
    return Normalised(wav, round(seconds * 1000))


def _fix_sizes(wav: bytes) -> bytes:
    """ffmpeg writing to a pipe cannot go back to fill the RIFF and data sizes: write them."""
    if len(wav) < 44 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise AudioRefused("Ce fichier n'est pas un son lisible (WAV, MP3, OGG ou WebM).")
    out = bytearray(wav)
    out[4:8] = (len(out) - 8).to_bytes(4, "little")
    at = 12
    while at + 8 <= len(out):
        chunk, size = bytes(out[at : at + 4]), int.from_bytes(out[at + 4 : at + 8], "little")
        if chunk == b"data":
            out[at + 4 : at + 8] = (len(out) - at - 8).to_bytes(4, "little")
            return bytes(out)
        at += 8 + size
    raise AudioRefused("Ce fichier n'est pas un son lisible (WAV, MP3, OGG ou WebM).")
