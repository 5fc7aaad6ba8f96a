"""``qa-pipeline run`` vs raw faster-whisper, as whole processes on the same files.

    .venv/bin/python benchmarks/run_vs_whisper.py [--calls 6] [--seconds 48] [--rounds 2]

Files: ``--calls`` stereo calls of ``--seconds`` each, looped from the data_samples stereo
calls with a different gain each (every file has its own sha256, so nothing is skipped or
cached). Each round runs both, in alternating order, each in a fresh process:

- raw: a plain script loads the same Whisper model (path, device, compute type) and
  transcribes both channels of every file with the pipeline's ASR options (beam size, word
  timestamps, VAD and its parameters, hallucination thresholds, no conditioning on previous
  text);
- run: ``qa-pipeline run DIR --tenant default`` against an empty store and cache, with no
  ``PREFECT_API_URL``, as a user types it (``--orchestrator auto``: in-process through the
  runner, without Prefect; code before that option served Prefect's API in the process,
  ``flows/local_api.py``, and code before that started Prefect's temporary server
  subprocess), plan, front end, release, scoring, store;
- with ``--orchestrators``, also run-local and run-prefect: the same command with
  ``--orchestrator local`` (the runner in this process, no Prefect) and ``--orchestrator
  prefect`` (the score_calls flow, Prefect's API served in the process);
- with ``--prefect-server``, also run-server: the same command against a Prefect server
  started once before the rounds (untimed), as on a worker of a deployment, where no
  process serves its own API;
- with ``--score``, also score: ``qa-pipeline score DIR --tenant default --out OUT``, the
  same runner without Prefect or a store (files only);
- with ``--before SRC`` (a checkout of other code, e.g. ``git archive`` of an older commit
  with ``models/cache`` copied in), each qa-pipeline mode also as ``MODE@before``: the same
  command with ``PYTHONPATH=SRC``, in the same rounds, so before and after see the same load.

Wall from the parent's clock around each process; CPU from the children's rusage (for run,
a temporary server subprocess's included). The load average before and after each process is
recorded: on a shared machine, wall times mean little when it is high. The
non-ASR share per stage comes from what the run recorded: stage costs in its store and the
scorecards' ``processing_s``. Writes benchmarks/results/run_vs_whisper.json and prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa_pipeline.asr.base import AsrOptions  # noqa: E402
from qa_pipeline.store import Store  # noqa: E402
from qa_pipeline.weights import resolve  # noqa: E402

SOURCES = ("zh_good_stereo_8k", "en_bad_stereo_8k", "zh_express_stereo_8k")

RAW = """
import sys
from faster_whisper import WhisperModel, decode_audio
from faster_whisper.vad import VadOptions
path, files = sys.argv[1], sys.argv[2:]
o = {opts!r}
model = WhisperModel(path, device="cpu", compute_type="int8", local_files_only=True)
for f in files:
    for channel in decode_audio(f, sampling_rate=16000, split_stereo=True):
        segments, _ = model.transcribe(
            channel, beam_size=o["beam_size"], word_timestamps=True,
            vad_filter=o["vad_filter"],
            vad_parameters=VadOptions(threshold=o["vad_threshold"],
                                      min_silence_duration_ms=o["vad_min_silence_ms"],
                                      speech_pad_ms=o["vad_speech_pad_ms"]),
            no_speech_threshold=o["no_speech_threshold"],
            log_prob_threshold=o["log_prob_threshold"],
            compression_ratio_threshold=o["compression_ratio_threshold"],
            condition_on_previous_text=False)
        list(segments)
"""


def make_calls(folder: Path, calls: int, seconds: float) -> list[Path]:
    folder.mkdir(parents=True)
    out = []
    for i in range(calls):
        name = SOURCES[i % len(SOURCES)]
        data, sr = sf.read(REPO / "data_samples" / "calls" / f"{name}.wav", dtype="float32",
                           always_2d=True)
        n = int(seconds * sr)
        looped = np.concatenate([data] * (n // len(data) + 1))[:n]
        path = folder / f"{name}_{i}.wav"
        sf.write(path, looped * (0.7 + 0.05 * i), sr, subtype="PCM_16")
        out.append(path)
    return out


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def start_prefect_server(work: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """A Prefect server on a free local port, healthy; returns the process and its API URL."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    prefect = str(Path(sys.executable).with_name("prefect"))
    server_env = {**env, "PREFECT_HOME": str(work / "prefect-server"),
                  "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.Popen([prefect, "server", "start", "--host", "127.0.0.1", "--port",
                             str(port)], env=server_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the Prefect server did not start")


def stage_shares(db: str) -> dict[str, float]:
    """Seconds per stage the run recorded, summed over its calls."""
    t = Store(db).tenant("default")
    seconds: dict[str, float] = {}
    for card in t.scorecards():
        for k, v in card["provenance"]["processing_s"].items():
            seconds[k] = seconds.get(k, 0.0) + float(v)
        for c in t.costs(card["call_id"]):
            if c.stage in ("acoustics", "redaction"):
                seconds[c.stage] = seconds.get(c.stage, 0.0) + c.wall_s
    return {k: round(v, 3) for k, v in sorted(seconds.items())}


def stage_costs(db: str) -> dict[str, dict[str, float]]:
    """Wall and CPU seconds per metered stage (front end, acoustics, scoring) in the store."""
    t = Store(db).tenant("default")
    out: dict[str, dict[str, float]] = {}
    for card in t.scorecards():
        for c in t.costs(card["call_id"]):
            row = out.setdefault(c.stage, {"wall_s": 0.0, "cpu_s": 0.0})
            row["wall_s"] = round(row["wall_s"] + c.wall_s, 3)
            row["cpu_s"] = round(row["cpu_s"] + c.cpu_s, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=48.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prefect-server", action="store_true",
                    help="also time run against a running Prefect server (run-server)")
    ap.add_argument("--score", action="store_true",
                    help="also time qa-pipeline score (the runner without Prefect or a store)")
    ap.add_argument("--orchestrators", action="store_true",
                    help="also time run --orchestrator local and --orchestrator prefect "
                         "(run-local, run-prefect)")
    ap.add_argument("--before", type=Path, default=None,
                    help="also time each qa-pipeline mode on the code in this folder")
    ap.add_argument("--only", default="",
                    help="comma-separated modes to time (default: all that the flags imply)")
    ap.add_argument("--out", default="run_vs_whisper.json",
                    help="result file name under benchmarks/results/")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="callqa-run-vs-whisper-"))
    files = make_calls(work / "calls", args.calls, args.seconds)
    opts = AsrOptions()
    raw_opts = {k: getattr(opts, k) for k in (
        "beam_size", "vad_filter", "vad_threshold", "vad_min_silence_ms", "vad_speech_pad_ms",
        "no_speech_threshold", "log_prob_threshold", "compression_ratio_threshold")}
    model_path = str(resolve("whisper", opts.model).path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "PREFECT_HOME": str(work / "prefect"), "PREFECT_LOGGING_LEVEL": "WARNING",
           # Every round must do the work: no Prefect task-cache hits across rounds.
           "PREFECT_TASKS_REFRESH_CACHE": "true"}
    qa = str(Path(sys.executable).with_name("qa-pipeline"))
    modes: tuple[str, ...] = ("raw", "run", *(("run-server",) if args.prefect_server else ()),
                              *(("score",) if args.score else ()),
                              *(("run-local", "run-prefect") if args.orchestrators else ()))
    if args.before is not None:  # older code has no --orchestrator option
        modes += tuple(f"{m}@before" for m in modes if m in ("run", "run-server", "score"))
    if args.only:
        modes = tuple(m for m in modes if m in args.only.split(","))
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    stages: dict[str, float] = {}
    costs: dict[str, dict[str, float]] = {}
    # The stage shares come from the run that goes without Prefect when both are timed.
    stage_mode = "run-local" if "run-local" in modes else "run"
    server = None
    server_env = env
    if args.prefect_server:
        server, api_url = start_prefect_server(work, env)
        server_env = {**env, "PREFECT_API_URL": api_url}
    try:
        for r in range(args.rounds):
            order = modes if r % 2 == 0 else modes[::-1]
            for mode in order:
                base, _, before = mode.partition("@")
                if base == "raw":
                    cmd = [sys.executable, "-c", RAW.format(opts=raw_opts), model_path,
                           *map(str, files)]
                elif base == "score":
                    cmd = [qa, "score", str(work / "calls"), "--tenant", "default",
                           "--out", str(work / f"out-{mode}-{r}"),
                           "--cache-dir", str(work / f"cache-{mode}-{r}")]
                else:
                    db = f"sqlite:///{work / f'qa-{mode}-{r}.db'}"
                    cmd = [qa, "run", str(work / "calls"), "--tenant", "default", "--db", db,
                           "--cache-dir", str(work / f"cache-{mode}-{r}")]
                    if base in ("run-local", "run-prefect"):
                        cmd += ["--orchestrator", base.removeprefix("run-")]
                mode_env = server_env if base == "run-server" else env
                if before:
                    mode_env = {**mode_env, "PYTHONPATH": str(args.before)}
                runs[mode].append(timed(cmd, mode_env, work))
                print(mode, r, runs[mode][-1], flush=True)
                if mode == stage_mode:
                    stages, costs = stage_shares(db), stage_costs(db)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    med = {m: {k: statistics.median(x[k] for x in v) for k in ("wall_s", "cpu_s")}
           for m, v in runs.items()}

    def ratio(mode: str) -> dict[str, float] | None:
        if mode not in med or "raw" not in med:
            return None
        return {k: round(med[mode][k] / med["raw"][k], 3) for k in ("wall_s", "cpu_s")}

    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(), "gpu": None},
        "calls": args.calls, "seconds_per_call": args.seconds, "channels": 2,
        "rounds": args.rounds, "model": opts.model, "asr_options": raw_opts,
        "before": str(args.before) if args.before else None,
        "runs": runs, "median": med,
        "ratio": ratio("run"), "ratio_server": ratio("run-server"),
        "ratio_score": ratio("score"),
        "ratios": {m: ratio(m) for m in modes if m != "raw"},
        "stage_mode": stage_mode,
        "run_stage_wall_s_last_round": stages,
        "run_stage_costs_last_round": costs,
    }
    out = REPO / "benchmarks" / "results" / args.out
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    asr = stages.get("asr", 0.0) or 1.0
    print("| | wall s (median) | CPU s (median) | / raw, wall | / raw, CPU |\n"
          "|---|---|---|---|---|")
    for m in modes:
        r_m = ratio(m) if m != "raw" else None
        rel = f"{r_m['wall_s']:.2f}x | {r_m['cpu_s']:.2f}x" if r_m else " | "
        print(f"| {m} | {med[m]['wall_s']:.1f} | {med[m]['cpu_s']:.1f} | {rel} |")
    if stages:
        print(f"\n| stage ({stage_mode}, last round) | wall s | share of ASR |\n|---|---|---|")
        for k, v in stages.items():
            print(f"| {k} | {v:.2f} | {100 * v / asr:.1f} % |")

if __name__ == "__main__":
    main()
