"""Prefect overhead and cross-file batching, measured side by side in one process.

    .venv/bin/python benchmarks/orchestration_eval.py [--copies 2] [--rounds 2]

Files: the five data_samples calls, each in ``--copies`` variants (gain-changed, so every
file has its own sha256 and nothing is skipped or cached). Every configuration starts from an
empty store and an empty front-end cache.

1. Library vs flow: ``BatchRunner.run`` called directly vs the ``score_calls`` flow on an
   ephemeral Prefect server (heartbeats off, as ``qa-pipeline run`` sets them). The server's
   start-up is paid once per process and reported separately (a warm-up flow run absorbs it,
   and a one-file library run warms the models' first-use costs); overhead = flow wall /
   library wall - 1, medians over ``--rounds`` rounds whose order alternates. Because the
   stages' own run-to-run variance on 2 cores is larger than Prefect's cost, the script also
   reports the seconds spent outside the stages (wall minus the stage seconds each run
   recorded in its store): Prefect's added time is the flow's minus the library's.
2. Cross-file batched vs per-file: one runner for all files (models loaded once per stage,
   then released) vs one runner per file with models released after each file (what one
   task or one process per file costs).

Writes benchmarks/results/orchestration_eval.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="callqa-bench-prefect-"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Every round must do the work: no Prefect task-cache hits across rounds.
os.environ["PREFECT_TASKS_REFRESH_CACHE"] = "true"

import soundfile as sf  # noqa: E402

from qa_pipeline.manifest import CallMeta, read_manifest, write_manifest  # noqa: E402
from qa_pipeline.rubric.embeddings import default_embedder  # noqa: E402
from qa_pipeline.runner import BatchRunner, RunOptions, list_sources  # noqa: E402
from qa_pipeline.runner.run import release_stage_models  # noqa: E402
from qa_pipeline.settings import configure  # noqa: E402
from qa_pipeline.store import Store  # noqa: E402


def make_inputs(work: Path, copies: int) -> Path:
    rows = []
    for meta in read_manifest(REPO / "data_samples" / "manifest.csv"):
        data, sr = sf.read(meta.path, dtype="float32", always_2d=True)
        info = sf.info(meta.path)
        for k in range(copies):
            target = work / "calls" / f"{Path(meta.path).stem}_v{k}.wav"
            target.parent.mkdir(parents=True, exist_ok=True)
            sf.write(target, data * (0.95 - 0.05 * k), sr, subtype=info.subtype)
            rows.append(CallMeta(**{**meta.to_dict(), "path": str(target), "call_id": None}))
    return write_manifest(rows, work / "manifest.csv")


def fresh(work: Path, name: str) -> tuple[str, Path]:
    # The copies share transcripts, so the process-wide embedding cache (texts -> vectors)
    # would favour whichever configuration runs later: every run starts with it empty.
    default_embedder.cache_clear()
    d = work / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return f"sqlite:///{d / 'qa.db'}", d / "cache"


def stage_seconds(work: Path, name: str) -> float:
    """Wall seconds the stages themselves recorded (front end, acoustics, scoring)."""
    import sqlite3

    with sqlite3.connect(work / name / "qa.db") as c:
        return float(c.execute("select coalesce(sum(wall_s), 0) from stage_costs").fetchone()[0])


def library_run(work: Path, manifest: Path, name: str) -> tuple[float, int]:
    db, cache = fresh(work, name)
    t0 = time.perf_counter()
    report = BatchRunner(Store(db), RunOptions(cache_dir=cache)).run(list_sources([manifest]))
    return time.perf_counter() - t0, len(report.processed)


def flow_run(work: Path, manifest: Path, name: str) -> tuple[float, int]:
    from flows.score_calls import score_calls

    db, cache = fresh(work, name)
    t0 = time.perf_counter()
    configure(db_url=db)  # the flow's tasks read the store's URL from the settings
    summary = score_calls(inputs=[str(manifest)], cache_dir=str(cache))
    return time.perf_counter() - t0, len(summary["processed"])


def per_file_run(work: Path, manifest: Path, name: str) -> tuple[float, int]:
    db, cache = fresh(work, name)
    store = Store(db)
    n = 0
    t0 = time.perf_counter()
    for source in list_sources([manifest]):
        n += len(BatchRunner(store, RunOptions(cache_dir=cache)).run([source]).processed)
        release_stage_models()
    return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="callqa-orch-"))
    manifest = make_inputs(work, args.copies)
    n_files = len(read_manifest(manifest))

    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.score_calls import score_calls

    results: dict[str, list[float]] = {"library": [], "flow": [], "per_file": []}
    around: dict[str, list[float]] = {"library": [], "flow": [], "per_file": []}
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        t0 = time.perf_counter()
        warm_db, warm_cache = fresh(work, "warmup")
        configure(db_url=warm_db)
        score_calls(inputs=[], cache_dir=str(warm_cache))
        startup_s = time.perf_counter() - t0
        # Warm every lazy first-use cost (embedder, sentiment head, librosa/numba, tenant
        # files) so that no configuration pays it alone.
        warm = write_manifest(read_manifest(manifest)[:1], work / "warm.csv")
        library_run(work, warm, "warm-library")
        configs = [("library", library_run), ("flow", flow_run), ("per_file", per_file_run)]
        for r in range(args.rounds):
            for name, fn in (configs if r % 2 == 0 else configs[::-1]):
                wall, done = fn(work, manifest, f"{name}-{r}")
                assert done == n_files, (name, done, n_files)
                results[name].append(wall)
                around[name].append(wall - stage_seconds(work, f"{name}-{r}"))
                print(f"round {r} {name}: {wall:.1f} s ({around[name][-1]:.2f} s outside the "
                      "stages)", flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    med_around = {k: statistics.median(v) for k, v in around.items()}
    out = {
        "date": dt.date.today().isoformat(), "machine": platform.platform(),
        "cpu_count": os.cpu_count(), "files": n_files, "rounds": args.rounds,
        "audio_s": round(sum(sf.info(m.path).duration for m in read_manifest(manifest)), 1),
        "wall_s": {k: [round(x, 2) for x in v] for k, v in results.items()},
        "median_wall_s": {k: round(v, 2) for k, v in med.items()},
        "seconds_outside_stages": {k: [round(x, 3) for x in v] for k, v in around.items()},
        "prefect_overhead": round(med["flow"] / med["library"] - 1, 4),
        # What Prefect adds around the same stage work, relative to the library run: robust
        # to run-to-run variance of the stages themselves.
        "prefect_added_s": round(med_around["flow"] - med_around["library"], 3),
        "prefect_added_fraction": round((med_around["flow"] - med_around["library"])
                                        / med["library"], 4),
        "prefect_server_startup_s": round(startup_s, 2),
        "batched_speedup_vs_per_file": round(med["per_file"] / med["library"], 3),
    }
    dest = REPO / "benchmarks" / "results" / "orchestration_eval.json"
    dest.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(json.dumps(out, indent=1))
    print("\n| configuration | wall s (median) | per file s | s outside stages |\n"
          "|---|---:|---:|---:|")
    for k in ("library", "flow", "per_file"):
        print(f"| {k} | {med[k]:.1f} | {med[k] / n_files:.2f} | {med_around[k]:.2f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
