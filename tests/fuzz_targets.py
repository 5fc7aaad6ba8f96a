"""Input generators and checks shared by the fuzz tests and ``benchmarks/fuzz.py``.

A check passes when the input loads or is refused with a :class:`QAPipelineError`; any
other exception (or a hang, enforced by the caller) is a finding.
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from qa_pipeline.audio.io import AudioOptions, load_audio, probe_audio
from qa_pipeline.errors import QAPipelineError
from qa_pipeline.privacy import redact_text
from qa_pipeline.rubric.loader import load_rubric_text

REPO = Path(__file__).resolve().parents[1]
_RUBRICS = [p.read_text(encoding="utf-8") for p in sorted((REPO / "rubrics").glob("*.yaml"))]
_MAGICS = [b"RIFF", b"ID3", b"\xff\xfb", b"OggS", b"fLaC", b"FORM", b".snd", b"#!AMR\n",
           b"\x00\x00\x00\x18ftypM4A "]


def _wav(rng: random.Random) -> bytes:
    sr = rng.choice([8000, 16000, 44100, 96000, 4000])
    ch = rng.choice([1, 2, 3])
    n = rng.choice([0, 1, 100, 8000, 24000])
    data = (np.random.default_rng(rng.randrange(1 << 30)).standard_normal((n, ch)) * 0.1
            ).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, data, sr, format="WAV", subtype=rng.choice(["PCM_16", "ULAW", "ALAW",
                                                             "FLOAT", "PCM_U8"]))
    return buf.getvalue()


def make_audio(rng: random.Random) -> bytes:
    """A WAV file mutated in one of several ways, or other containers' magic + junk."""
    if rng.random() < 0.15:
        return rng.choice(_MAGICS) + rng.randbytes(rng.randrange(0, 2000))
    b = bytearray(_wav(rng))
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(5)
        if op == 0 and len(b) > 44:  # header field: sample rate, channels, sizes, format
            off = rng.choice([4, 20, 22, 24, 28, 32, 34, 40])
            b[off:off + 4] = struct.pack("<I", rng.choice(
                [0, 1, 0xFFFFFFFF, rng.randrange(1 << 32)]))
        elif op == 1:  # truncate
            del b[rng.randrange(len(b) + 1):]
        elif op == 2 and b:  # flip bytes
            for _ in range(rng.randrange(1, 20)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 3:  # splice junk
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.randbytes(rng.randrange(1, 64))
        else:  # duplicate a chunk
            i = rng.randrange(len(b) + 1)
            b[i:i] = b[i:i + rng.randrange(1, 200)]
    return bytes(b)


def check_audio(data: bytes, workdir: Path) -> None:
    path = workdir / "fuzz.wav"
    path.write_bytes(data)
    opts = AudioOptions(max_duration_s=60)
    for fn in (lambda: probe_audio(path, opts), lambda: load_audio(path, opts)):
        try:
            fn()
        except QAPipelineError:
            pass


def make_rubric(rng: random.Random) -> str:
    """A default rubric with lines dropped, duplicated, re-indented or replaced."""
    if rng.random() < 0.1:
        return "".join(rng.choice(" \n\t:-[]{}'\"#&*!|>%@`abc123") for _ in range(200))
    lines = rng.choice(_RUBRICS).splitlines()
    for _ in range(rng.randrange(1, 6)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        op = rng.randrange(6)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            lines[i] = " " * rng.randrange(8) + lines[i].lstrip()
        elif op == 3 and ":" in lines[i]:
            k, _, _v = lines[i].partition(":")
            lines[i] = k + ": " + rng.choice(["", "-1", "1e309", "[]", "{}", "null", "yes",
                                              "!!python/object:os.system x", "&a *a", "'x",
                                              "9" * 50, "fatal", "regex", "'(('"])
        elif op == 4:
            lines[i] = lines[i].replace(rng.choice(["id", "type", "severity", "points",
                                                    "rule", "phrases", "weight"]), "zz")
        else:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    return "\n".join(lines)


def check_rubric(text: str, _workdir: Path) -> None:
    try:
        load_rubric_text(text, "<fuzz>")
    except QAPipelineError:
        pass


def make_alias_rubric(rng: random.Random) -> str:
    """A default rubric with anchors and aliases spliced in: nested alias fans (the billion
    laughs), anchored and aliased values, merge keys, self-referencing and undefined aliases,
    aliases as keys.
    """
    lines = rng.choice(_RUBRICS).splitlines()
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(lines) + 1)
        op = rng.randrange(6)
        if op == 0:  # a fan of aliases, depth x width (9 x 9 is the 522-byte bomb)
            depth, width = rng.randrange(1, 10), rng.randrange(1, 10)
            bomb = [f"b0: &b0 [{', '.join(['lol'] * width)}]"]
            bomb += [f"b{d}: &b{d} [{', '.join([f'*b{d - 1}'] * width)}]"
                     for d in range(1, depth + 1)]
            lines[i:i] = bomb
        elif op == 1 and i < len(lines) and ":" in lines[i]:  # anchor a value, alias it later
            k, _, v = lines[i].partition(":")
            lines[i] = f"{k}: &v{i} {v.strip() or 'x'}"
            j = rng.randrange(i, len(lines))
            if ":" in lines[j] and j != i:
                k2, _, _ = lines[j].partition(":")
                lines[j] = f"{k2}: *v{i}"
        elif op == 2:
            lines[i:i] = ["base: &base {weight: 10, points: 5}", "merged: {<<: *base, x: 1}"]
        elif op == 3:
            lines[i:i] = [rng.choice(["loop: &r [*r]", "loop: &m {k: *m}", "loop: *nope"])]
        elif op == 4:
            lines[i:i] = ["k: &k key", "map: {*k : 1}"]
        else:  # the same anchor twice
            lines[i:i] = ["x: &d 1", "y: &d 2"]
    return "\n".join(lines)


def check_alias_rubric(text: str, _workdir: Path) -> None:
    """Loads or is refused with a typed error; a text with an anchor or alias never loads."""
    try:
        load_rubric_text(text, "<fuzz>")
    except QAPipelineError:
        return
    try:
        events = list(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return
    aliased = [e for e in events
               if isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None) is not None]
    assert not aliased, f"a rubric with anchors or aliases loaded: {aliased[0]}"


def make_text(rng: random.Random) -> str:
    """Random mixes of digits, spoken digits, separators and words."""
    parts = ["一", "二", "三", "幺", "零", "叉", "double", "oh", "one", "five", "x", "X", " ",
             "-", "，", ",", ".", "@", "a", "单号", "order", "2026-11-23", "12:30", "9", "1", "0",
             "\n", "١", "𝟙", "\u200b", "ｘ", "１",
             # cue, end and date words, so the cue windows and date patterns run too
             "card", "phone", "last", "ending", "December", "May", "3rd", "of", "and", "号码",
             "尾号", "年", "月", "号"]
    return "".join(rng.choice(parts) for _ in range(rng.randrange(1, 120)))


def check_redact(text: str, _workdir: Path) -> None:
    out, spans = redact_text(text)
    for s in spans:  # spans must lie inside the text, in order, non-overlapping
        assert 0 <= s.start < s.end <= len(text), s
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))
    assert isinstance(out, str)


TARGETS = {"audio": (make_audio, check_audio), "rubric": (make_rubric, check_rubric),
           "alias": (make_alias_rubric, check_alias_rubric), "redact": (make_text, check_redact)}
