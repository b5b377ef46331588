"""The audio of a simulated call's recording (mock mode): the conversation, heard again.

Twilio records every call; the phone simulator stands in for it, so each call it played
has a recording too, made from the call's transcript when it is first asked for:

* with espeak-ng installed (``make audio-deps``), each line is synthesised, the service
  in one voice and the callee in another, with a short pause between lines;
* without it, a generated WAV: a soft murmur of tones per line, as long as the line
  takes to say, lower for the service and higher for the callee.

Either way a 16-bit mono PCM WAV, which every browser plays. Nothing is written to disk:
the audio lives in the web server's memory with the call's transcript.
"""

from __future__ import annotations

import array
import asyncio
import io
import logging
import math
import random
import shutil
import sys
import wave
from collections.abc import Sequence

__all__ = ["CONTENT_TYPE", "ESPEAK", "conversation_wav", "murmur_wav", "wav_duration_s"]

log = logging.getLogger("services.devtools.mock_recording")

CONTENT_TYPE = "audio/wav"
ESPEAK = "espeak-ng"
VOICES = {"service": "en-us", "callee": "en-us+f3"}  # espeak-ng voices, one per speaker
PAUSE_S = 0.45  # between lines
MURMUR_RATE = 8000  # Hz: phone quality, and quick to compute
PITCH = {"service": 180.0, "callee": 260.0}  # Hz, the murmur's base tone per speaker
ESPEAK_TIMEOUT_S = 20


async def conversation_wav(lines: Sequence[tuple[str, str]], *, espeak: str | None = None) -> bytes:
    """A WAV of ``lines`` ((speaker, text); speaker "service" or "callee"), spoken by
    espeak-ng where it is installed (``espeak``: its path; default: found on PATH), else
    the murmur of `murmur_wav`."""
    spoken = [(who, text.strip()) for who, text in lines if who in VOICES and text.strip()]
    program = espeak if espeak is not None else shutil.which(ESPEAK)
    if program is not None and spoken:
        try:
            return await _espeak_wav(program, spoken)
        except (OSError, ValueError, EOFError, wave.Error, TimeoutError) as exc:
            log.warning("espeak-ng failed (%s); the recording is a generated murmur", exc)
    return await asyncio.to_thread(murmur_wav, spoken)


async def _espeak_wav(program: str, lines: Sequence[tuple[str, str]]) -> bytes:
    rate: int | None = None
    pcm = bytearray()
    for speaker, text in lines:
        process = await asyncio.create_subprocess_exec(
            program,
            "-v",
            VOICES[speaker],
            "--stdout",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(process.communicate(text.encode()), ESPEAK_TIMEOUT_S)
        if process.returncode != 0:
            raise ValueError(f"espeak-ng exited with {process.returncode}")
        with wave.open(io.BytesIO(_fix_stream_header(out))) as part:
            if part.getnchannels() != 1 or part.getsampwidth() != 2:
                raise ValueError("espeak-ng wrote something other than 16-bit mono")
            if rate is None:
                rate = part.getframerate()
            elif part.getframerate() != rate:
                raise ValueError("espeak-ng changed its sample rate")
            if pcm:
                pcm += bytes(2 * int(PAUSE_S * rate))
            pcm += part.readframes(part.getnframes())
    assert rate is not None
    return _wav(bytes(pcm), rate)


def _fix_stream_header(data: bytes) -> bytes:
    """espeak-ng writing to a pipe cannot seek back to fill in the sizes (it leaves them
    0 or 0xFFFFFFFF): set them from the bytes actually written."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[36:40] != b"data":
        return data
    fixed = bytearray(data)
    fixed[4:8] = (len(data) - 8).to_bytes(4, "little")
    fixed[40:44] = (len(data) - 44).to_bytes(4, "little")
    return bytes(fixed)


def murmur_wav(lines: Sequence[tuple[str, str]], rate: int = MURMUR_RATE) -> bytes:
    """A speech-like murmur: per line one soft tone per syllable, as long as the line takes
    to say (about 4 syllables a second), with a pause between lines; deterministic."""
    samples: list[int] = []
    for n, (speaker, text) in enumerate(lines):
        if n:
            samples.extend([0] * int(PAUSE_S * rate))
        seeded = random.Random(f"{speaker}:{text}")
        base = PITCH.get(speaker, 220.0)
        syllables = max(1, round(1.4 * len(text.split())))
        for _ in range(syllables):
            length = int(rate * seeded.uniform(0.16, 0.24))
            pitch = base * seeded.uniform(0.9, 1.15)
            for i in range(length):
                envelope = math.sin(math.pi * i / length)
                tone = math.sin(2 * math.pi * pitch * i / rate)
                overtone = 0.3 * math.sin(4 * math.pi * pitch * i / rate)
                samples.append(int(7000 * envelope * (tone + overtone)))
            samples.extend([0] * int(rate * 0.04))
    if not samples:
        samples = [0] * int(rate * 0.5)  # nothing was said: half a second of silence
    pcm = array.array("h", samples)
    if sys.byteorder == "big":
        pcm.byteswap()  # WAV is little-endian
    return _wav(pcm.tobytes(), rate)


def _wav(pcm: bytes, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def wav_duration_s(data: bytes) -> float:
    """How long a WAV lasts, in seconds."""
    with wave.open(io.BytesIO(data)) as audio:
        return audio.getnframes() / audio.getframerate()
