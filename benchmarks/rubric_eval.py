"""Rubric accuracy on the labelled synthetic calls, scored end to end from audio, and
rubric evaluation speed.

    .venv/bin/python benchmarks/rubric_eval.py --calls benchmarks/tmp/labelled   # accuracy
    .venv/bin/python benchmarks/rubric_eval.py --speed-only                      # speed

Accuracy: every call goes through the speech front end (embedded models) and the tenant's
default rubric; per-criterion precision / recall / F1 of violations against the planted
labels (a "positive" is a fail). Speed: five-minute conversations built from the sample
transcripts, evaluated with the default zh and en rubrics on one core (similarity rules
excluded: the default rubrics have none).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa_pipeline.bench.metrics import BinaryCounts  # noqa: E402
from qa_pipeline.conversation.export import read_conversation, write_conversation  # noqa: E402
from qa_pipeline.conversation.metrics import compute_metrics  # noqa: E402
from qa_pipeline.frontend import FrontEnd  # noqa: E402
from qa_pipeline.rubric.context import EvaluationContext  # noqa: E402
from qa_pipeline.rubric.engine import evaluate  # noqa: E402
from qa_pipeline.rubric.evaluation import LabelledCase, evaluate_cases  # noqa: E402
from qa_pipeline.rubric.loader import load_rubric  # noqa: E402
from qa_pipeline.tenants import load_tenant  # noqa: E402
from qa_pipeline.types import Conversation, Utterance, Word  # noqa: E402


def accuracy(calls_dir: Path) -> dict:
    rows = list(csv.DictReader(open(calls_dir / "manifest.csv", encoding="utf-8")))
    plan = json.loads((calls_dir / "plan.json").read_text(encoding="utf-8"))
    fe = FrontEnd.for_tenant(load_tenant("default"))
    cases: dict[str, list[LabelledCase]] = {"zh": [], "en": []}
    conv_dir = calls_dir / "conversations"
    t0 = time.perf_counter()
    audio_s = 0.0
    for row in rows:
        name = Path(row["path"]).stem
        cached = conv_dir / f"{name}.conversation.json"
        if cached.exists():
            conv = read_conversation(cached)
        else:
            conv = fe.transcribe(fe.load(calls_dir / row["path"])).conversation
            write_conversation(conv, cached)
        audio_s += conv.duration_s
        entry = plan[name]  # labelled_calls.py writes {"expected": ...}; older plans: labels
        cases[name[:2]].append(LabelledCase(name, conv, entry.get("expected", entry)))
    front_s = time.perf_counter() - t0
    out: dict = {"calls": len(rows), "audio_s": audio_s, "front_end_s": front_s}
    for lang in ("zh", "en"):
        rubric_file = f"customer_service_{lang}.yaml"
        report = evaluate_cases(load_rubric(REPO / "rubrics" / rubric_file), cases[lang])
        out[lang] = report.to_dict()
    # Pooled over both languages, split by severity.
    pooled: dict[str, BinaryCounts] = {}
    severity: dict[str, str] = {}
    for lang in ("zh", "en"):
        for c in out[lang]["criteria"]:
            cid = c["criterion_id"]
            pooled[cid] = pooled.get(cid, BinaryCounts()) + _counts(c)
            severity[cid] = c["severity"]
    out["pooled"] = {cid: {"severity": severity[cid], **c.to_dict()}
                     for cid, c in pooled.items()}
    # Overtalk is only measurable on stereo calls (mono diarization is exclusive, so the
    # metric is undefined there and the rule not applicable): report stereo calls alone too.
    stereo = BinaryCounts()
    for lang in ("zh", "en"):
        sub = [c for c in cases[lang] if c.conversation.channels == 2]
        report = evaluate_cases(load_rubric(REPO / "rubrics" / f"customer_service_{lang}.yaml"),
                                sub).to_dict()
        stereo += _counts(next(r for r in report["criteria"]
                               if r["criterion_id"] == "interruption"))
    out["interruption_stereo_only"] = stereo.to_dict()
    fatal = sum((c for cid, c in pooled.items() if severity[cid] == "fatal"), BinaryCounts())
    out["fatal_precision"] = fatal.precision
    out["fatal_recall"] = fatal.recall
    non_fatal = sum((c for cid, c in pooled.items()
                     if severity[cid] == "non_fatal" and cid != "customer_complaint"),
                    BinaryCounts())
    out["non_fatal_f1"] = non_fatal.f1
    return out


def _counts(row: dict) -> BinaryCounts:
    return BinaryCounts(row["tp"], row["fp"], row["fn"], row["tn"])


def five_minute_conversation(base: Conversation, tag: int) -> Conversation:
    """Repeat a sample call's utterances until the call lasts 300 s. Every utterance gets a
    unique suffix so no text repeats (normalisation and pinyin caches cannot flatter the
    figure)."""
    utts: list[Utterance] = []
    offset = 0.0
    while offset < 300.0:
        for u in base.utterances:
            shift = offset
            suffix = f" {tag}x{len(utts)}"
            words = tuple(Word(w.start_s + shift, w.end_s + shift, w.text, w.probability)
                          for w in u.words)
            utts.append(replace(u, index=len(utts), start_s=u.start_s + shift,
                                end_s=u.end_s + shift, words=words, text=u.text + suffix))
        offset += base.duration_s
    return replace(base, utterances=tuple(utts), duration_s=offset)


def speed(sample_dir: Path, seconds: float = 5.0) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    convs = [read_conversation(p) for p in sorted(sample_dir.glob("*/conversation.json"))]
    if not convs:
        raise SystemExit(f"no conversation.json under {sample_dir}: run the README main job")
    rubrics = {"zh": load_rubric(REPO / "rubrics" / "customer_service_zh.yaml"),
               "en": load_rubric(REPO / "rubrics" / "customer_service_en.yaml")}
    # Distinct conversations for the whole run (built before timing starts).
    long_convs = [five_minute_conversation(c, k) for k in range(400) for c in convs]
    for conv in long_convs[:20]:  # warm-up: first-use tables (pinyin, regex compilation)
        evaluate(rubrics[conv.language], EvaluationContext(conv, compute_metrics(conv)))
    n = 0
    metrics_s = rubric_s = 0.0
    for conv in long_convs[20:]:
        t0 = time.perf_counter()
        metrics = compute_metrics(conv)
        t1 = time.perf_counter()
        evaluate(rubrics[conv.language], EvaluationContext(conv, metrics))
        t2 = time.perf_counter()
        metrics_s += t1 - t0
        rubric_s += t2 - t1
        n += 1
        if metrics_s + rubric_s > seconds:
            break
    utts = sum(len(c.utterances) for c in long_convs) / len(long_convs)
    return {"conversations": n, "seconds": metrics_s + rubric_s,
            "per_second_per_core": n / (metrics_s + rubric_s),
            "rubric_per_second_per_core": n / rubric_s,
            "metrics_ms_per_conversation": 1000 * metrics_s / n,
            "rubric_ms_per_conversation": 1000 * rubric_s / n,
            "utterances_per_conversation": utts,
            "includes": "per_second_per_core: metrics + rubric evaluation (normalisation, "
                        "matching, evidence, review policy); rubric_*: rubric evaluation only"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=Path, default=REPO / "benchmarks" / "tmp" / "labelled")
    ap.add_argument("--samples", type=Path, default=REPO / "out",
                    help="folder with <call_id>/conversation.json (the main job's output)")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" /
                    "rubric_eval.json")
    args = ap.parse_args()
    result: dict = {"date": dt.date.today().isoformat()}
    if args.out.exists():
        result = {**json.loads(args.out.read_text()), **result}
    result["speed"] = speed(args.samples)
    if not args.speed_only:
        result["accuracy"] = accuracy(args.calls)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    sp = result["speed"]
    print(f"rubric evaluation: {sp['rubric_per_second_per_core']:.0f} five-minute "
          f"conversations/s/core ({sp['rubric_ms_per_conversation']:.2f} ms each); with "
          f"metrics: {sp['per_second_per_core']:.0f}/s ({sp['utterances_per_conversation']:.0f} "
          "utterances each)")
    acc = result.get("accuracy")
    if acc:
        print(f"\n{acc['calls']} calls, {acc['audio_s']:.0f} s audio; fatal P "
              f"{acc['fatal_precision']:.3f} R {acc['fatal_recall']:.3f}; non-fatal F1 "
              f"{acc['non_fatal_f1']:.3f}\n")
        print("| criterion | severity | tp | fp | fn | tn | precision | recall | F1 |")
        print("|---|---|---|---|---|---|---|---|---|")
        for cid, v in acc["pooled"].items():
            print(f"| {cid} | {v['severity']} | {v['tp']} | {v['fp']} | {v['fn']} | {v['tn']} | "
                  f"{v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} |")
        v = acc["interruption_stereo_only"]
        print(f"| interruption (stereo calls only) | non_fatal | {v['tp']} | {v['fp']} | "
              f"{v['fn']} | {v['tn']} | {v['precision']:.3f} | {v['recall']:.3f} | "
              f"{v['f1']:.3f} |")


if __name__ == "__main__":
    main()
