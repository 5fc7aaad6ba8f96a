"""Rubric evaluation speed of two checkouts side by side (alternating processes).

    .venv/bin/python benchmarks/rubric_speed_compare.py --before /tmp/old --after . \\
        --out benchmarks/results/rubric_speed_compare.json

``--before`` is another checkout of this repository (``git worktree add /tmp/old <commit>``);
both evaluate the same five-minute conversations built from ``out/*/conversation.json`` (the
README main job's output) with their own rubrics and code, one process at a time, ``--rounds``
times each, so machine noise hits both alike.

``--instructions`` also counts CPU instructions per evaluated call under valgrind's callgrind
(per language: a run that evaluates ``--calls`` conversations minus one that evaluates none,
everything else equal). Instruction counts do not depend on what else the machine is doing,
so they compare two checkouts on a noisy VM where wall-clock rates drift. ``--breakdown``
counts only ``--after``'s instructions per call, whole and in parts (normalisation and scan
alone; the evaluation without building evidence), to show where the work goes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs inside the checkout under test: its qa_pipeline, its rubric_eval helpers, its rubrics.
_PROBE = r"""
import json, sys, time
repo, samples, n_calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path[:0] = [repo, repo + "/benchmarks"]
from pathlib import Path
import rubric_eval as r
from qa_pipeline.conversation import read_conversation
convs = [read_conversation(p) for p in sorted(Path(samples).glob("*/conversation.json"))]
rubrics = {lang: r.load_rubric(Path(repo) / "rubrics" / f"customer_service_{lang}.yaml")
           for lang in ("zh", "en")}
calls = [r.five_minute_conversation(c, k) for k in range(n_calls // len(convs) + 4) for c in convs]
for c in calls[:20]:
    r.evaluate(rubrics[c.language], r.EvaluationContext(c, r.compute_metrics(c)))
metrics_s = rubric_s = 0.0
for c in calls[20:20 + n_calls]:
    t0 = time.perf_counter(); m = r.compute_metrics(c); t1 = time.perf_counter()
    r.evaluate(rubrics[c.language], r.EvaluationContext(c, m)); t2 = time.perf_counter()
    metrics_s += t1 - t0; rubric_s += t2 - t1
n = min(n_calls, len(calls) - 20)
print(json.dumps({"calls": n, "rubric_ms": 1000 * rubric_s / n, "metrics_ms": 1000 * metrics_s / n,
                  "rubric_per_s": n / rubric_s, "total_per_s": n / (rubric_s + metrics_s)}))
"""


# Builds the same conversations whatever ``n`` is, then evaluates ``n`` of them (after 20
# warm-up calls), so two runs differ only by the evaluations.
#
# ``part`` (--breakdown) measures where the work goes: "all" evaluates the rubric; "scan"
# only normalises and scans each call (the phrase index: exact and pinyin candidates);
# "no-evidence" evaluates it with every rule's evidence_for replaced by one shared object
# (no word-probability lookup, no Evidence built), so all minus no-evidence is what quoting
# costs.
_COUNT = r"""
import sys
repo, samples, n, language = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
part = sys.argv[5] if len(sys.argv) > 5 else "all"
sys.path[:0] = [repo, repo + "/benchmarks"]
from pathlib import Path
import rubric_eval as r
from qa_pipeline.conversation import read_conversation
paths = sorted(Path(samples).glob("*/conversation.json"))
convs = [c for c in map(read_conversation, paths) if c.language == language]
rubric = r.load_rubric(Path(repo) / "rubrics" / f"customer_service_{language}.yaml")
calls = [r.five_minute_conversation(c, k) for k in range(220 // len(convs) + 2) for c in convs]
metrics = [r.compute_metrics(c) for c in calls]
if part == "no-evidence":
    import importlib, pkgutil
    import qa_pipeline.rubric.rules as rules
    from qa_pipeline.types import Evidence, Role
    shared = Evidence(0, Role.AGENT, 0.0, 1.0, "", 1.0, 1.0)
    for info in pkgutil.iter_modules(rules.__path__):
        module = importlib.import_module(f"qa_pipeline.rubric.rules.{info.name}")
        if hasattr(module, "evidence_for"):
            module.evidence_for = lambda ctx, u, hit, note="": shared
for c, m in list(zip(calls, metrics))[:20 + n]:
    ctx = r.EvaluationContext(c, m)
    if part == "scan":
        ctx.use_index(rubric.phrase_index)
    else:
        r.evaluate(rubric, ctx)
"""


def instructions(checkout: Path, samples: Path, calls: int, language: str,
                 part: str = "all") -> float:
    """Instructions per evaluated call (callgrind), for one language (``part``: see
    ``_COUNT``)."""
    def run(n: int) -> int:
        # A fixed hash seed: with a random one per process, counts of the same code differed
        # by up to ~5 % (dict and set layouts change the work of every lookup).
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(checkout),
               "PYTHONHASHSEED": "0"}
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
             "-c", _COUNT, str(checkout), str(samples), str(n), language, part],
            capture_output=True, text=True, env=env, cwd=checkout, check=True)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None:
            raise SystemExit(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
        return int(found.group(1))

    return (run(calls) - run(0)) / calls


def probe(checkout: Path, samples: Path, calls: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, "-c", _PROBE, str(checkout), str(samples), str(calls)],
                          capture_output=True, text=True, env=env, cwd=checkout, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, help="the other checkout (not with --breakdown)")
    ap.add_argument("--after", type=Path, default=REPO)
    ap.add_argument("--samples", type=Path, default=REPO / "out")
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--instructions", action="store_true",
                    help="also count instructions per call with valgrind (slow: minutes)")
    ap.add_argument("--breakdown", action="store_true",
                    help="only count instructions of --after's parts (all, scan, no-evidence)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" /
                    "rubric_speed_compare.json")
    args = ap.parse_args()
    if args.breakdown:
        parts = {part: {lang: instructions(args.after.resolve(), args.samples.resolve(),
                                           min(args.calls, 200), lang, part)
                        for lang in ("zh", "en")} for part in ("all", "scan", "no-evidence")}
        result = {"date": dt.date.today().isoformat(), "instructions_per_call": parts,
                  "share": {lang: {"normalise_and_scan": parts["scan"][lang] / parts["all"][lang],
                                   "evidence": 1 - parts["no-evidence"][lang]
                                   / parts["all"][lang]} for lang in ("zh", "en")}}
        print(json.dumps(result, indent=1))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
        return
    if args.before is None:
        ap.error("--before is required (unless --breakdown)")
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        for name in ("before", "after"):
            result = probe(getattr(args, name).resolve(), args.samples.resolve(), args.calls)
            runs[name].append(result)
            print(name, json.dumps(result))
    # Each round's two runs are neighbours in time, so their ratio cancels slow drifts of the
    # machine; the median over rounds drops a round that one burst of noise hit.
    ratios = sorted(b["rubric_ms"] / a["rubric_ms"] for b, a in zip(runs["before"], runs["after"],
                                                                    strict=True))
    summary = {"date": dt.date.today().isoformat(), "runs": runs, "round_speedups": ratios,
               "rubric_speedup_median": statistics.median(ratios)}
    if args.instructions:
        counts = {name: {lang: instructions(getattr(args, name).resolve(), args.samples.resolve(),
                                            min(args.calls, 200), lang)
                         for lang in ("zh", "en")} for name in ("before", "after")}
        summary["instructions_per_call"] = counts
        summary["instruction_ratio"] = {
            lang: counts["before"][lang] / counts["after"][lang] for lang in ("zh", "en")}
        print("instructions per call:", json.dumps(counts), "before/after:",
              json.dumps(summary["instruction_ratio"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    print(f"rubric evaluation speed-up, median of {args.rounds} rounds: "
          f"{summary['rubric_speedup_median']:.2f}x (rounds: "
          + ", ".join(f"{r:.2f}" for r in ratios) + ")")


if __name__ == "__main__":
    main()
