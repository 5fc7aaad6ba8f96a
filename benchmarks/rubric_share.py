"""Rubric evaluation's share of a call's CPU cost (goal: at most 1 %).

    PYTHONPATH=. .venv/bin/python benchmarks/rubric_share.py \\
        --out benchmarks/results/rubric_share.json

Measures, in one process, the CPU time (``time.process_time``) of rubric evaluation per
five-minute call with every shipped rubric of the call's language, and of the timing metrics
it reads, and sets it against the speech front end's CPU time per five-minute call. The
calls are the reference transcripts in ``data_samples/reference`` repeated to five minutes
(``rubric_eval.five_minute_conversation``: every utterance made unique, so no cache flatters
the figure), or ``--samples``' ``*/conversation.json`` (the README main job's output) when
given. The front end is not re-run: its CPU seconds per audio minute come from a bench run
recorded on the same machine (``--front-end``, default ``results/bench_shared_eval.json``:
``calls.speed.pipeline.stages.front_end.cpu_s`` over ``calls.speed.pipeline.audio_s``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CALL_S = 300.0


def reference_conversations() -> list[Any]:
    """The reference transcripts as conversations (word probabilities drawn per word)."""
    from qa_pipeline.types import Conversation, Provenance, Role, Utterance, Word

    rng = random.Random(7)
    provenance = Provenance("share", "reference", "reference", "reference", "reference",
                            "reference")
    out = []
    for path in sorted((REPO / "data_samples" / "reference").glob("*.transcript.tsv")):
        language = path.name[:2]
        with path.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        utterances = []
        for i, row in enumerate(rows):
            start, end, text = float(row["start_s"]), float(row["end_s"]), row["text"]
            tokens = list(text) if language == "zh" else text.split()
            step = (end - start) / len(tokens)
            words = tuple(Word(start + k * step, start + (k + 1) * step, t,
                               rng.uniform(0.5, 1.0)) for k, t in enumerate(tokens))
            utterances.append(Utterance(i, f"spk_{row['role']}", Role(row["role"]), 1.0, start,
                                        end, text, language, words))
        duration_s = max(u.end_s for u in utterances) + 1.0
        out.append(Conversation(path.name.split(".")[0], "default", duration_s, language,
                                tuple(utterances), provenance))
    return out


def front_end_cpu_s_per_audio_min(path: Path) -> float:
    """Front-end CPU seconds per audio minute from a recorded bench run."""
    pipeline = json.loads(path.read_text(encoding="utf-8"))["calls"]["speed"]["pipeline"]
    return 60.0 * pipeline["stages"]["front_end"]["cpu_s"] / pipeline["audio_s"]


def measure(samples: Path | None, seconds: float) -> dict[str, Any]:
    """Rubric and metrics CPU milliseconds per five-minute call, per rubric."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from rubric_eval import five_minute_conversation

    from qa_pipeline.conversation.export import read_conversation
    from qa_pipeline.conversation.metrics import compute_metrics
    from qa_pipeline.rubric.context import EvaluationContext
    from qa_pipeline.rubric.engine import evaluate
    from qa_pipeline.rubric.loader import load_rubric

    bases = ([read_conversation(p) for p in sorted(samples.glob("*/conversation.json"))]
             if samples else reference_conversations())
    if not bases:
        raise SystemExit(f"no */conversation.json under {samples}")
    out: dict[str, Any] = {}
    for path in sorted((REPO / "rubrics").glob("*.yaml")):
        rubric = load_rubric(path)
        language = "en" if path.stem.endswith("_en") else "zh"
        convs = [c for c in bases if c.language == language]
        calls = [five_minute_conversation(c, k) for k in range(1000) for c in convs]
        for call in calls[:10]:  # warm-up: first-use tables (pinyin, compiled expressions)
            evaluate(rubric, EvaluationContext(call, compute_metrics(call)))
        n = 0
        metrics_s = rubric_s = 0.0
        for call in calls[10:]:
            t0 = time.process_time()
            metrics = compute_metrics(call)
            t1 = time.process_time()
            evaluate(rubric, EvaluationContext(call, metrics))
            t2 = time.process_time()
            metrics_s += t1 - t0
            rubric_s += t2 - t1
            n += 1
            if metrics_s + rubric_s > seconds:
                break
        out[path.stem] = {
            "language": language, "calls": n,
            "utterances_per_call": sum(len(c.utterances) for c in calls[10:10 + n]) / n,
            "rubric_cpu_ms_per_call": 1000 * rubric_s / n,
            "metrics_cpu_ms_per_call": 1000 * metrics_s / n}
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: measure and write the JSON, print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--samples", type=Path, help="folder with */conversation.json")
    ap.add_argument("--front-end", type=Path,
                    default=REPO / "benchmarks" / "results" / "bench_shared_eval.json")
    ap.add_argument("--seconds", type=float, default=5.0, help="CPU seconds per rubric")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    per_min = front_end_cpu_s_per_audio_min(args.front_end)
    front_end_s = per_min * CALL_S / 60.0
    rubrics = measure(args.samples, args.seconds)
    for row in rubrics.values():
        row["share_of_call_cpu"] = (row["rubric_cpu_ms_per_call"] / 1000) / (
            front_end_s + row["rubric_cpu_ms_per_call"] / 1000)
        row["share_with_metrics"] = ((row["rubric_cpu_ms_per_call"]
                                      + row["metrics_cpu_ms_per_call"]) / 1000) / front_end_s
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(),
                    "python": platform.python_version()},
        "call_s": CALL_S,
        "calls_from": str(args.samples) if args.samples else "data_samples/reference",
        "front_end_from": str(args.front_end.relative_to(REPO)
                              if args.front_end.is_relative_to(REPO) else args.front_end),
        "front_end_cpu_s_per_audio_min": per_min,
        "front_end_cpu_s_per_call": front_end_s,
        "goal_share": 0.01,
        "rubrics": rubrics,
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"front end: {per_min:.2f} CPU s per audio minute ({result['front_end_from']}), "
          f"{front_end_s:.1f} CPU s per five-minute call")
    print("| rubric | calls timed | utterances / call | rubric CPU ms / call | "
          "metrics CPU ms / call | rubric share of call CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, row in rubrics.items():
        print(f"| {name} | {row['calls']} | {row['utterances_per_call']:.0f} | "
              f"{row['rubric_cpu_ms_per_call']:.1f} | {row['metrics_cpu_ms_per_call']:.1f} | "
              f"{100 * row['share_of_call_cpu']:.3f} % |")
    return 0 if all(r["share_of_call_cpu"] <= 0.01 for r in rubrics.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
