"""The audio of a simulated call: espeak-ng where it is installed, else a generated WAV."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import sys
import wave
from pathlib import Path

import pytest

from services.devtools.mock_recording import conversation_wav, murmur_wav, wav_duration_s

LINES = [
    ("service", "Hi Ada. It's time for your daily reflection."),
    ("callee", "I was grateful for my sister's call."),
    ("twilio", "(a note, not speech)"),
    ("service", "Thank you for reflecting with me today. Goodbye!"),
]


def frames(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data)) as audio:
        assert (audio.getnchannels(), audio.getsampwidth()) == (1, 2)
        return audio.readframes(audio.getnframes())


def test_without_espeak_the_recording_is_a_murmur_as_long_as_the_talk() -> None:
    short = murmur_wav(LINES[:1])
    long = murmur_wav([line for line in LINES if line[0] != "twilio"])
    empty = murmur_wav([])
    # longer talk, more samples in the file (its length, read from the data, not timed)
    assert len(frames(empty)) < len(frames(short)) < len(frames(long))
    assert any(frames(long))  # not silence
    assert murmur_wav(LINES[:1]) == short  # the same call, the same audio
    assert wav_duration_s(murmur_wav([])) == 0.5  # nothing said: a short silence


def test_with_no_espeak_on_path_conversation_wav_murmurs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    spoken = [line for line in LINES if line[0] != "twilio"]
    assert asyncio.run(conversation_wav(LINES)) == murmur_wav(spoken)


def fake_espeak(tmp_path: Path, script: str) -> str:
    """An executable standing in for espeak-ng (a Python script: no espeak needed)."""
    path = tmp_path / "espeak-ng"
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


SPEAKS = """
import sys, struct
voice = sys.argv[sys.argv.index("-v") + 1]
text = sys.stdin.read()
pcm = bytes([1 if voice == "en-us" else 2, 0]) * (100 * len(text))
# as espeak-ng writes to a pipe: the sizes in the header are left unset
header = b"RIFF" + b"\\xff\\xff\\xff\\xff" + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
sys.stdout.buffer.write(header + b"data" + b"\\xff\\xff\\xff\\xff" + pcm)
"""


def test_espeak_speaks_each_line_in_its_speakers_voice(tmp_path: Path) -> None:
    data = asyncio.run(conversation_wav(LINES, espeak=fake_espeak(tmp_path, SPEAKS)))
    pcm = frames(data)
    service, callee, goodbye = (LINES[0][1], LINES[1][1], LINES[3][1])
    pause = bytes(2 * int(0.45 * 22050))
    assert pcm == (
        b"\x01\x00" * (100 * len(service))
        + pause
        + b"\x02\x00" * (100 * len(callee))
        + pause
        + b"\x01\x00" * (100 * len(goodbye))
    )


def test_a_failing_espeak_falls_back_to_the_murmur(tmp_path: Path) -> None:
    broken = fake_espeak(tmp_path, "import sys; sys.exit(3)")
    spoken = [line for line in LINES if line[0] != "twilio"]
    assert asyncio.run(conversation_wav(LINES, espeak=broken)) == murmur_wav(spoken)


@pytest.mark.skipif(
    not any(
        os.access(os.path.join(d, "espeak-ng"), os.X_OK)
        for d in os.environ.get("PATH", "").split(os.pathsep)
    ),
    reason="espeak-ng is not installed (make audio-deps)",
)
def test_the_real_espeak_ng_speaks_the_conversation() -> None:
    data = asyncio.run(conversation_wav(LINES))
    assert wav_duration_s(data) > 3 and any(frames(data))
