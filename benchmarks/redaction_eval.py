"""PII / PCI redaction accuracy on the generated labelled set (zh + en; written, spaced,
spoken and split-spoken forms) — ``qa_pipeline/privacy/testset.py``.

    .venv/bin/python benchmarks/redaction_eval.py

Recall: a gold mention counts when every one of its non-separator characters lies inside
detected spans. Precision: a detected span counts when it overlaps a gold mention. Reported
for the development seed (the rules were tuned on it) and the held-out seed (other numbers,
plus negative sentences written after tuning), per language, kind and form.
Writes benchmarks/results/redaction_eval.json and prints Markdown tables.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa_pipeline.privacy import detect  # noqa: E402
from qa_pipeline.privacy.testset import DEV_SEED, HELDOUT_SEED, build_testset  # noqa: E402

_SEPARATORS = set(" ，,-、")


def score(seed: int) -> dict[str, object]:
    samples = build_testset(seed)
    tp = fn = fp = detected = 0
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses, false_alarms = [], []
    t0 = time.perf_counter()
    found = [detect(s.text) for s in samples]
    elapsed = time.perf_counter() - t0
    for s, det in zip(samples, found, strict=True):
        covered = {i for d in det for i in range(d.start, d.end)}
        for m in s.mentions:
            need = {i for i in range(m.start, m.end) if s.text[i] not in _SEPARATORS}
            hit = need <= covered
            tp += hit
            fn += not hit
            for key in (f"lang:{s.language}", f"kind:{m.kind}", f"form:{m.form}"):
                by[key][0] += hit
                by[key][1] += 1
            if not hit:
                misses.append(s.text)
        for d in det:
            detected += 1
            if not any(d.start < m.end and d.end > m.start for m in s.mentions):
                fp += 1
                false_alarms.append(f"{d.kind}: {s.text}")
    return {
        "seed": seed, "sentences": len(samples), "mentions": tp + fn,
        "negative_sentences": sum(1 for s in samples if not s.mentions),
        "recall": round(tp / max(tp + fn, 1), 4),
        "precision": round((detected - fp) / max(detected, 1), 4),
        "detected": detected, "false_positives": fp, "missed": fn,
        "recall_by": {k: {"recall": round(h / n, 4), "n": n} for k, (h, n) in sorted(by.items())},
        "misses": misses, "false_alarms": false_alarms,
        "ms_per_sentence": round(1000 * elapsed / len(samples), 3),
    }


def main() -> None:
    out = {"date": dt.date.today().isoformat(), "dev": score(DEV_SEED),
           "heldout": score(HELDOUT_SEED)}
    dest = REPO / "benchmarks" / "results" / "redaction_eval.json"
    dest.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print("| set | mentions | negatives | recall | precision | FP | ms/sentence |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in ("dev", "heldout"):
        r = out[name]
        print(f"| {name} | {r['mentions']} | {r['negative_sentences']} | {r['recall']:.4f} | "
              f"{r['precision']:.4f} | {r['false_positives']} | {r['ms_per_sentence']} |")
    print("\n| slice (held-out) | n | recall |\n|---|---:|---:|")
    for k, v in out["heldout"]["recall_by"].items():  # type: ignore[union-attr]
        print(f"| {k} | {v['n']} | {v['recall']:.4f} |")


if __name__ == "__main__":
    main()
