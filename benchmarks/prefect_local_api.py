"""What Prefect costs a process without ``PREFECT_API_URL``: its temporary server subprocess
vs the API served in-process (``flows/local_api.py``), whole processes, no pipeline work.

    .venv/bin/python benchmarks/prefect_local_api.py [--rounds 3] [--tasks 5]

Each round runs, in alternating order, a fresh process per mode that imports Prefect the way
``qa-pipeline run`` does (``flows.prefect_defaults``, heartbeats off, ``gc.freeze`` at exit)
and runs one flow of ``--tasks`` trivial tasks (``qa-pipeline run`` has four per batch):

- subprocess: the flow alone; Prefect starts its temporary server as a second process;
- in-process: the same flow inside :func:`flows.local_api.local_api`.

Each mode has its own ``PREFECT_HOME`` whose database is created by an untimed first run, as
on a site after its first batch. CPU from the children's rusage (the server subprocess's
included), wall from the parent's clock, load average before each process; afterwards the
flow and task runs in each database are counted (every run must be recorded). Writes
benchmarks/results/prefect_local_api.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import atexit, gc, sys
atexit.register(gc.freeze)
from flows import prefect_defaults
prefect_defaults()
from prefect import flow, task
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

@task
def step(i):
    return i

@flow
def batch(n):
    return [step(i) for i in range(n)]

mode, n = sys.argv[1], int(sys.argv[2])
with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
    if mode == "in-process":
        from flows.local_api import local_api
        with local_api():
            batch(n)
    else:
        batch(n)
"""


def timed(mode: str, tasks: int, home: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PYTHONPATH=str(REPO), PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="WARNING")
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(tasks)], env=env,
                          capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} exited {proc.returncode}: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_before": round(load, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="callqa-prefect-local-api-"))
    modes = ("subprocess", "in-process")
    homes = {m: work / m for m in modes}
    for m in modes:  # untimed: creates the database
        timed(m, args.tasks, homes[m])
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for m in (modes if r % 2 == 0 else modes[::-1]):
            runs[m].append(timed(m, args.tasks, homes[m]))
            print(m, r, runs[m][-1], flush=True)
    recorded = {}
    for m in modes:
        with sqlite3.connect(homes[m] / "prefect.db") as db:
            recorded[m] = {
                "flow_runs_completed": db.execute(
                    "SELECT COUNT(*) FROM flow_run WHERE state_type = 'COMPLETED'").fetchone()[0],
                "task_runs_completed": db.execute(
                    "SELECT COUNT(*) FROM task_run WHERE state_type = 'COMPLETED'").fetchone()[0],
            }
    med = {m: {k: statistics.median(x[k] for x in v) for k in ("wall_s", "cpu_s")}
           for m, v in runs.items()}
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "cores": os.cpu_count(), "tasks_per_flow": args.tasks, "rounds": args.rounds,
              "runs": runs, "median": med, "recorded": recorded,
              "expected_per_mode": {"flow_runs": args.rounds + 1,
                                    "task_runs": (args.rounds + 1) * args.tasks}}
    out = REPO / "benchmarks" / "results" / "prefect_local_api.json"
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print("| mode | wall s (median) | CPU s (median) | flow / task runs recorded |\n"
          "|---|---:|---:|---|")
    for m in modes:
        rec = recorded[m]
        print(f"| {m} | {med[m]['wall_s']:.1f} | {med[m]['cpu_s']:.1f} | "
              f"{rec['flow_runs_completed']} / {rec['task_runs_completed']} |")


if __name__ == "__main__":
    main()
