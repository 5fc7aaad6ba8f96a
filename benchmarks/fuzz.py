"""Fuzzing: audio decoding / validation and rubric parsing must never crash the process or
hang — every input either loads or raises the pipeline's own typed error.

    .venv/bin/python benchmarks/fuzz.py --minutes 10      # each target for 10 minutes

Targets (hypothesis, coverage-free random + structure-aware mutation):
  audio   mutated WAV files (header fields, truncation, random bytes, other containers'
          magic) through probe_audio and load_audio;
  rubric  mutated rubric YAML (the default rubrics with lines dropped, duplicated, keys and
          values replaced, random text) through load_rubric_text;
  alias   default rubrics with anchors and aliases spliced in (alias fans up to 9 x 9, merge
          keys, self-reference, aliases as keys) through load_rubric_text: each is refused,
          none is expanded;
  redact  random text with digits, spoken digits and separators through redact_text.
Writes benchmarks/results/fuzz.json (inputs run, failures) and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fuzz_targets import TARGETS  # noqa: E402


class Hang(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise Hang()


def fuzz(name: str, seconds: float, per_input_timeout_s: int, workdir: Path) -> dict[str, object]:
    make, check = TARGETS[name]
    import random

    rng = random.Random(12345)
    runs = 0
    failures: list[str] = []
    signal.signal(signal.SIGALRM, _alarm)
    deadline = time.time() + seconds
    while time.time() < deadline:
        data = make(rng)
        signal.alarm(per_input_timeout_s)
        try:
            check(data, workdir)
        except Hang:
            failures.append(f"hang > {per_input_timeout_s} s on input {data[:80]!r}")
        except Exception:  # noqa: BLE001 - the point: anything not ours is a finding
            failures.append(traceback.format_exc(limit=3)[-600:])
        finally:
            signal.alarm(0)
        runs += 1
        if len(failures) >= 20:
            break
    return {"target": name, "seconds": round(seconds), "inputs": runs, "failures": failures}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--targets", default="audio,rubric,alias,redact")
    ap.add_argument("--timeout", type=int, default=20, help="seconds per input before a hang")
    ap.add_argument("--out", default="fuzz.json", help="file name under benchmarks/results")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.targets.split(","):
            r = fuzz(name, args.minutes * 60, args.timeout, Path(tmp))
            print(f"{name}: {r['inputs']} inputs, {len(r['failures'])} failures", flush=True)
            results.append(r)
    out = {"date": dt.date.today().isoformat(), "minutes_per_target": args.minutes,
           "results": results}
    dest = REPO / "benchmarks" / "results" / args.out
    dest.write_text(json.dumps(out, indent=1), encoding="utf-8")
    sys.exit(1 if any(r["failures"] for r in results) else 0)


if __name__ == "__main__":
    main()
