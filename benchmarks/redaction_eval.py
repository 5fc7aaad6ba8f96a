"""PII / PCI redaction accuracy on the labelled sets (zh + en), written forms and ASR forms
apart:

- written: ``qa_pipeline/privacy/testset.py`` ``build_testset`` (written, spaced, spoken and
  split-spoken digits). ``dev`` is the seed the rules were tuned on; ``heldout`` draws other
  numbers and adds phrasings and negative sentences written after tuning.
- asr: ``qa_pipeline/privacy/asr_lines.tsv``, TTS renderings through a telephone channel and
  the product's Whisper (``benchmarks/redaction/README.md``), split by phrasing into ``tune``
  (the cue tables were written against it) and ``heldout`` (scored once, then used for
  tuning too); ``asr_lines_heldout2.tsv``, the ``heldout2`` half, new phrasings rendered the
  same way before the detector's last change and scored once, at the end (now seen);
  ``asr_lines_heldout3.tsv``, the ``heldout3`` half, phrasings written by an author who had
  not seen the detector (``benchmarks/redaction/heldout3_templates.tsv``), rendered after
  the detector's last change was committed and scored once (now seen);
  ``asr_lines_own4.tsv``, the ``own4`` half, phrasings the fourth session wrote and rendered
  before changing the detector (``benchmarks/redaction/own4_templates.tsv``);
  ``asr_lines_heldout4.tsv``, a fourth independent author's half (now seen); and
  ``asr_lines_own5.tsv``, the ``own5`` half, phrasings the fifth session wrote and rendered
  before changing the detector (``benchmarks/redaction/own5_templates.tsv``); the fifth
  independent author's ``heldout5`` (now seen); and ``asr_lines_own6.tsv``, the ``own6``
  half, the sixth session's own phrasings, mostly tails and English, rendered before its
  detector changes (``benchmarks/redaction/own6_templates.tsv``).

    .venv/bin/python benchmarks/redaction_eval.py
    .venv/bin/python benchmarks/redaction_eval.py --out redaction_eval_r4.json \
        --before benchmarks/results/earlier.json  # figures of earlier code beside

Recall: a gold mention counts when every one of its non-separator characters lies inside
detected spans. ASR lines' gold spans run from the first to the last digit the transcript
kept, with whatever words the ASR put between ("一三要四三八三1549"), so they are also scored
by what is left: ``recall_lt4_left`` counts a mention as redacted when fewer than four of its
digits remain outside detected spans (three digits identify no one). Precision: a detected
span counts when it overlaps a gold mention.
Writes benchmarks/results/redaction_eval.json (or ``--out``) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa_pipeline.privacy import PiiSpan, detect, digit_runs  # noqa: E402
from qa_pipeline.privacy.testset import (  # noqa: E402
    DEV_SEED,
    HALVES,
    HELDOUT_SEED,
    Sample,
    build_testset,
    load_asr_lines,
)

_SEPARATORS = set(" ，,-、。.")
_SUMMARY = ("mentions", "negative_sentences", "recall", "recall_lt4_left", "precision",
            "false_positives", "missed")


def score(samples: list[Sample] | tuple[Sample, ...],
          detector: Callable[[str], Sequence[PiiSpan]] = detect) -> dict[str, object]:
    """Recall, precision and their slices over labelled samples, as ``detector`` finds them."""
    tp = fn = fp = detected = few_left = 0
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    # detected, false alarms, per TTS voice (ASR lines only)
    by_engine: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses, false_alarms = [], []
    t0 = time.perf_counter()
    found = [detector(s.text) for s in samples]
    elapsed = time.perf_counter() - t0
    for s, det in zip(samples, found, strict=True):
        covered = {i for d in det for i in range(d.start, d.end)}
        for m in s.mentions:
            need = {i for i in range(m.start, m.end) if s.text[i] not in _SEPARATORS}
            hit = need <= covered
            tp += hit
            fn += not hit
            left = sum(m.start + a not in covered
                       for r in digit_runs(s.text[m.start:m.end], min_digits=1)
                       for a, _ in r.spans)
            few_left += left < 4
            for key in (f"lang:{s.language}", f"kind:{m.kind}", f"form:{m.form}"):
                by[key][0] += hit
                by[key][1] += 1
                by[key][2] += left < 4
            if left >= 4 or not hit:
                misses.append(f"{'' if hit else 'not covered; '}"
                              f"{left} digits left: {s.text}")
        for d in det:
            detected += 1
            false = not any(d.start < m.end and d.end > m.start for m in s.mentions)
            if s.engine:
                by_engine[s.engine][0] += 1
                by_engine[s.engine][1] += false
            if false:
                fp += 1
                false_alarms.append(f"{d.kind}: {s.text}")
    return {
        "sentences": len(samples), "mentions": tp + fn,
        "negative_sentences": sum(1 for s in samples if not s.mentions),
        "recall": round(tp / max(tp + fn, 1), 4),
        "recall_lt4_left": round(few_left / max(tp + fn, 1), 4),
        "precision": round((detected - fp) / max(detected, 1), 4),
        "detected": detected, "false_positives": fp, "missed": fn,
        "recall_by": {k: {"recall": round(h / n, 4), "recall_lt4_left": round(f / n, 4), "n": n}
                      for k, (h, n, f) in sorted(by.items())},
        "precision_by": {f"engine:{e}": {"precision": round((n - f) / max(n, 1), 4),
                                         "detected": n, "false_positives": f}
                         for e, (n, f) in sorted(by_engine.items())},
        "misses": misses, "false_alarms": false_alarms,
        "ms_per_sentence": round(1000 * elapsed / max(len(samples), 1), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--halves", nargs="+", choices=HALVES, default=list(HALVES),
                    help="ASR halves to score (a partial run writes no results file)")
    ap.add_argument("--out", default="redaction_eval.json",
                    help="results file name under benchmarks/results/")
    ap.add_argument("--before", type=Path, default=None,
                    help="a results file of earlier code: its figures are kept beside these "
                         "(key 'before') and printed next to them")
    args = ap.parse_args()
    halves = tuple(h for h in HALVES if h in args.halves)
    out: dict[str, object] = {"date": dt.date.today().isoformat()}
    for name, seed in (("written_dev", DEV_SEED), ("written_heldout", HELDOUT_SEED)):
        out[name] = {"seed": seed, **score(build_testset(seed))}
    for half in halves:
        lines = load_asr_lines(half)
        out[f"asr_{half}"] = {"lines_lost_by_asr": lines.lost, **score(lines.samples)}
    before: dict[str, dict[str, object]] = {}
    if args.before is not None:
        earlier = json.loads(args.before.read_text(encoding="utf-8"))
        before = {k: {f: v[f] for f in _SUMMARY if f in v} for k, v in earlier.items()
                  if isinstance(v, dict) and "recall" in v}
        out["before"] = {"file": args.before.name, **before}
    if halves == HALVES:
        dest = REPO / "benchmarks" / "results" / args.out
        dest.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    if before:
        print("| set | mentions | recall before | recall after | precision before | "
              "precision after |\n|---|---:|---:|---:|---:|---:|")
        for name in ("written_dev", "written_heldout", *(f"asr_{h}" for h in halves)):
            r, b = out[name], before.get(name, {})
            assert isinstance(r, dict)
            print(f"| {name} | {r['mentions']} | {b.get('recall', '-')} | {r['recall']} | "
                  f"{b.get('precision', '-')} | {r['precision']} |")
        print()
    print("| set | mentions | negatives | recall | recall (<4 digits left) | precision | FP |"
          " ms/sentence |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("written_dev", "written_heldout", *(f"asr_{h}" for h in halves)):
        r = out[name]
        assert isinstance(r, dict)
        print(f"| {name} | {r['mentions']} | {r['negative_sentences']} | {r['recall']:.4f} | "
              f"{r['recall_lt4_left']:.4f} | {r['precision']:.4f} | {r['false_positives']} | "
              f"{r['ms_per_sentence']} |")
    for name in ("written_heldout", *(f"asr_{h}" for h in halves if h != "tune")):
        r = out[name]
        assert isinstance(r, dict)
        print(f"\n| slice ({name}) | n | recall | recall (<4 digits left) |\n|---|---:|---:|---:|")
        for k, v in r["recall_by"].items():
            print(f"| {k} | {v['n']} | {v['recall']:.4f} | {v['recall_lt4_left']:.4f} |")


if __name__ == "__main__":
    main()
