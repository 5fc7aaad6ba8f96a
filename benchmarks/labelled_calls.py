"""Compose labelled synthetic calls with planted violations for every default criterion.

Each call is assembled from script blocks (greeting, verification, disclosure, complaint,
empathy, forbidden phrase, abuse, promise, dead air or announced hold, interruption, closing);
a seeded draw decides which blocks misbehave, and the labels follow from the draw. Every
block has several phrasings per language, kept as data in ``benchmarks/labelled/``:

- ``phrasings_tune.tsv``: the ``tune`` half, written in this repository (rubrics, phrase lists
  and thresholds may be tuned on it);
- ``phrasings_test.tsv``: the ``test`` half, written by an independent author who saw neither
  the rubrics nor the act corpus (nothing may be tuned on it).

A call draws all its phrasings from one half, so a call is wholly ``tune`` or wholly ``test``.
The violation draw does not depend on the half (the same seed gives the same planted
violations, layouts and audio formats in both halves), so the halves differ only in wording.
Phrasings are dealt per block from a seeded shuffled deck, so every phrasing of a block is used
before any repeats. The scripts are pure data (no TTS here), so the same seed always yields the
same set:

    python benchmarks/labelled_calls.py --half test --list      # show the plan
    /tmp/tts/bin/python benchmarks/labelled_calls.py --half test --render benchmarks/tmp/labelled5

Rendering needs the TTS venv of data_samples/README.md; audio goes to a git-ignored folder,
with ``plan.json`` (labels, layout and the phrasing id of every turn) and ``manifest.csv``.
This module imports nothing from ``qa_pipeline`` so that it runs in the TTS venv.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "data_samples"))

from scripts import Call, Turn  # noqa: E402

A, C = "agent", "customer"
LANGS = ("zh", "en")
HALVES = ("tune", "test")
PHRASING_DIR = HERE / "labelled"
PHRASING_FILES = {"tune": PHRASING_DIR / "phrasings_tune.tsv",
                  "test": PHRASING_DIR / "phrasings_test.tsv"}
MIN_PHRASINGS = 5
DEFAULT_SEED = 20261123

BLOCK_NAMES = (
    "greeting_ok", "greeting_bad", "customer_opening", "ask_verify", "customer_verify",
    "verified", "disclose", "complaint", "empathy", "no_empathy", "forbidden", "abuse",
    "promise", "hold", "after_hold", "filler_agent", "filler_customer", "answer",
    "closing_ask", "customer_bye", "closing_thanks", "curt_end",
)

CRITERIA = ("greeting", "identity_verification", "forbidden_phrases", "abusive_language",
            "unauthorized_promise", "empathy_on_complaint", "closing", "dead_air",
            "interruption", "customer_complaint")


@dataclass(frozen=True)
class Phrasing:
    """One wording of a block: ``id`` is ``half:lang:block:NN`` (NN = order in its file)."""

    id: str
    lang: str
    block: str
    text: str


Phrasings = Mapping[tuple[str, str], Sequence[Phrasing]]


@dataclass(frozen=True)
class PlannedCall:
    """A composed call, its expected outcome per criterion and the phrasing id of every turn."""

    call: Call
    expected: dict[str, str]
    half: str
    phrasing_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The call's entry of ``plan.json``."""
        return {
            "half": self.half, "lang": self.call.language, "layout": self.call.layout,
            "expected": self.expected,
            "turns": [{"role": t.role, "phrasing": pid, "text": t.text,
                       "pause_s": t.pause_s, "overlap_s": t.overlap_s}
                      for t, pid in zip(self.call.turns, self.phrasing_ids, strict=True)],
        }


def load_phrasings(path: Path, half: str) -> dict[tuple[str, str], tuple[Phrasing, ...]]:
    """Read a ``lang<TAB>block<TAB>text`` file (with that header) into phrasings per block.

    Raises:
        ValueError: the header, a column count, a language or a block name is wrong, a text
            is empty, or a text repeats within its block.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["lang", "block", "text"]:
        raise ValueError(f"{path}: the first line must be lang<TAB>block<TAB>text")
    out: dict[tuple[str, str], list[Phrasing]] = {}
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != 3:
            raise ValueError(f"{path}:{n}: {len(cols)} columns, expected 3")
        lang, block, text = (c.strip() for c in cols)
        if lang not in LANGS:
            raise ValueError(f"{path}:{n}: language {lang!r} is not one of {LANGS}")
        if block not in BLOCK_NAMES:
            raise ValueError(f"{path}:{n}: unknown block {block!r}; known: {BLOCK_NAMES}")
        if not text:
            raise ValueError(f"{path}:{n}: empty text")
        same = out.setdefault((lang, block), [])
        if any(p.text == text for p in same):
            raise ValueError(f"{path}:{n}: {lang} {block} text repeats")
        same.append(Phrasing(f"{half}:{lang}:{block}:{len(same):02d}", lang, block, text))
    return {k: tuple(v) for k, v in out.items()}


def check_counts(phrasings: Phrasings, minimum: int = MIN_PHRASINGS) -> None:
    """Raise ValueError unless every block has ``minimum`` phrasings in each language."""
    short = [f"{lang} {block}: {len(phrasings.get((lang, block), ()))}"
             for lang in LANGS for block in BLOCK_NAMES
             if len(phrasings.get((lang, block), ())) < minimum]
    if short:
        raise ValueError(f"fewer than {minimum} phrasings: {'; '.join(short)}")


def half_phrasings(half: str) -> dict[tuple[str, str], tuple[Phrasing, ...]]:
    """The phrasings of ``half`` from its file in ``benchmarks/labelled``, counts checked."""
    if half not in HALVES:
        raise ValueError(f"half {half!r} is not one of {HALVES}")
    phrasings = load_phrasings(PHRASING_FILES[half], half)
    check_counts(phrasings)
    return phrasings


class _Deck:
    """Deals a block's phrasings in a seeded shuffled order, reshuffling when all are used."""

    def __init__(self, phrasings: Phrasings, rng: random.Random) -> None:
        self._phrasings = phrasings
        self._rng = rng
        self._left: dict[tuple[str, str], list[Phrasing]] = {}

    def draw(self, lang: str, block: str) -> Phrasing:
        left = self._left.get((lang, block))
        if not left:
            left = list(self._phrasings[(lang, block)])
            self._rng.shuffle(left)
            self._left[(lang, block)] = left
        return left.pop()


def call_details(lang: str, index: int) -> dict[str, Any]:
    """Voice and metadata of the ``index``-th rendered call of a language: the customer's
    voice pitched away from the agent's, every third call mu-law, five agents per team.
    """
    return {"customer_pitch_cents": -450 if lang == "zh" else 400,
            "subtype": "ULAW" if index % 3 == 0 else "PCM_16",
            "agent_id": f"agent-{index % 5:03d}", "team_id": f"team-{lang}",
            "started_at": f"2026-11-{1 + index % 7:02d}T10:00:00+08:00"}


def plan(half: str = "tune", seed: int = DEFAULT_SEED, per_language: int = 24,
         phrasings: Phrasings | None = None) -> list[PlannedCall]:
    """The labelled calls of one half.

    Args:
        half: ``tune`` or ``test``: which phrasing file every turn is drawn from.
        seed: seeds the violation draw (shared by both halves) and the phrasing deal.
        per_language: calls per language (even ones stereo, odd ones mono).
        phrasings: phrasings to draw from instead of the half's file (tests).
    """
    if half not in HALVES:
        raise ValueError(f"half {half!r} is not one of {HALVES}")
    if phrasings is None:
        phrasings = half_phrasings(half)
    rng = random.Random(seed)
    deck = _Deck(phrasings, random.Random(f"{seed}:{half}:phrasings"))
    calls = []
    for lang in LANGS:
        ids: list[str] = []

        def say(role: str, block: str, lang: str = lang, ids: list[str] = ids,
                **timing: float) -> Turn:
            p = deck.draw(lang, block)
            ids.append(p.id)
            return Turn(role, p.text, **timing)

        for i in range(per_language):
            ids.clear()
            # Violations are drawn so each criterion has both outcomes in the set; call 0 of
            # each language is clean and call 1 breaks everything.
            p = 0.0 if i == 0 else 1.0 if i == 1 else 0.3
            bad = {c: rng.random() < p for c in CRITERIA}
            complaint = bad["customer_complaint"] or bad["empathy_on_complaint"]
            disclose = rng.random() < 0.8 or bad["identity_verification"]
            hold = not bad["dead_air"] and rng.random() < 0.3
            turns: list[Turn] = [say(A, "greeting_bad" if bad["greeting"] else "greeting_ok")]
            turns.append(say(C, "complaint" if complaint else "customer_opening"))
            if complaint:
                turns.append(say(A, "no_empathy" if bad["empathy_on_complaint"] else "empathy"))
                turns.append(say(C, "filler_customer"))
            if bad["identity_verification"]:
                turns.append(say(A, "disclose"))
            else:
                turns += [say(A, "ask_verify"), say(C, "customer_verify"), say(A, "verified")]
                if disclose:
                    turns.append(say(A, "disclose"))
            if hold:
                turns += [say(A, "hold", pause_s=10.0), say(A, "after_hold")]
            if bad["dead_air"]:
                # 9 s of unannounced silence after the agent's last turn. (Not after the
                # customer's next turn: an interruption there would overlap it away.)
                turns[-1] = replace(turns[-1], pause_s=9.0)
            turns.append(say(C, "filler_customer"))
            if bad["interruption"]:
                turns.append(say(A, "filler_agent", overlap_s=1.5))
            else:
                turns.append(say(A, "answer"))
            if bad["forbidden_phrases"]:
                turns.append(say(A, "forbidden"))
            if bad["abusive_language"]:
                turns.append(say(A, "abuse"))
            if bad["unauthorized_promise"]:
                turns.append(say(A, "promise"))
            if bad["closing"]:
                turns.append(say(A, "curt_end"))
            else:
                turns += [say(A, "closing_ask"), say(C, "customer_bye"),
                          say(A, "closing_thanks")]
            layout = "stereo" if i % 2 == 0 else "mono"
            expected = {c: ("fail" if bad[c] else "pass") for c in CRITERIA}
            if not complaint:
                expected["empathy_on_complaint"] = "not_applicable"
            expected["customer_complaint"] = "fail" if complaint else "pass"
            call = Call(
                name=f"{lang}_{half}_{i:02d}_{layout}", language=lang, tenant="default",
                layout=layout, sample_rate_hz=8000, turns=tuple(turns), expected=expected,
                **call_details(lang, i))
            calls.append(PlannedCall(call, expected, half, tuple(ids)))
    return calls


def render(calls: Sequence[PlannedCall], out: Path) -> int:
    """Synthesize ``calls`` into ``out`` (calls/, reference/, manifest.csv, plan.json)."""
    import generate

    generate.OUT_CALLS = out / "calls"
    generate.OUT_REF = out / "reference"
    rows = []
    for pc in calls:
        row = generate.write_call(pc.call)
        rows.append({"call_id": pc.call.name, **row})
        print(f"rendered {pc.call.name}", flush=True)
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "plan.json").write_text(json.dumps(
        {pc.call.name: pc.to_dict() for pc in calls}, ensure_ascii=False, indent=1),
        encoding="utf-8")
    return len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--half", choices=HALVES, default="tune",
                    help="which phrasing half every call draws from")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--list", action="store_true", help="print the plan")
    ap.add_argument("--render", type=Path, help="folder for audio + labels (needs TTS venv)")
    args = ap.parse_args(argv)
    calls = plan(args.half, args.seed)
    if args.list or not args.render:
        for pc in calls:
            bad = [c for c, v in pc.expected.items() if v == "fail"]
            print(f"{pc.call.name:20s} {len(pc.call.turns):2d} turns  violations: "
                  f"{', '.join(bad)}")
            print(f"{'':20s} phrasings: {' '.join(pc.phrasing_ids)}")
        return 0
    n = render(calls, args.render)
    print(f"rendered {n} calls into {args.render}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
