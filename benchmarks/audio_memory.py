"""Peak memory of ``load_audio`` on long 48 kHz stereo recordings.

    .venv/bin/python benchmarks/audio_memory.py --hours 4 0.5
    .venv/bin/python benchmarks/audio_memory.py --hours 0.5 --code /path/to/other/checkout

Writes each recording (FLAC, 16-bit, 48 kHz stereo: a 4-hour PCM WAV would exceed the
default 2 GiB upload limit) to a temporary folder, decodes it with ``load_audio`` in a fresh
process and reports that process's peak resident memory, deleting the file afterwards.
``--code`` runs another checkout's ``qa_pipeline`` (e.g. the code before a change) on the
same files. Writes benchmarks/results/audio_memory.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys, time
import qa_pipeline
from qa_pipeline.audio.io import load_audio
base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
audio = load_audio(sys.argv[1], sha256="0" * 64)
print(json.dumps({"seconds": time.perf_counter() - t0, "import_peak_kb": base_kb,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "output_bytes": audio.samples.nbytes, "duration_s": audio.duration_s,
                  "notes": list(getattr(audio, "notes", ())),
                  "package": qa_pipeline.__file__}))
"""


def write_recording(path: Path, hours: float, rate_hz: int = 48_000) -> None:
    """A 48 kHz stereo FLAC of slowly changing tones (compressible, not silent)."""
    import soundfile as sf

    total = int(hours * 3600 * rate_hz)
    block = rate_hz * 60
    with sf.SoundFile(str(path), "w", rate_hz, 2, format="FLAC", subtype="PCM_16") as f:
        for start in range(0, total, block):
            n = min(block, total - start)
            t = (start + np.arange(n)) / rate_hz
            minute = start // block
            left = 0.3 * np.sin(2 * np.pi * (200 + 10 * (minute % 30)) * t)
            right = 0.2 * np.sin(2 * np.pi * (350 + 7 * (minute % 40)) * t)
            f.write(np.stack([left, right], 1).astype(np.float32))


def measure(path: Path, code: Path) -> dict[str, object]:
    """Decode ``path`` with the ``qa_pipeline`` of ``code`` in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    # cwd: ``python -c`` puts the working directory first on sys.path.
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], env=env, check=True,
                         cwd=code, capture_output=True, text=True, timeout=3600)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, nargs="+", default=[4.0])
    ap.add_argument("--code", type=Path, default=REPO, help="checkout whose code to measure")
    ap.add_argument("--out", default="audio_memory.json", help="file under benchmarks/results")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="callqa-audio-memory-") as tmp:
        for hours in args.hours:
            path = Path(tmp) / f"call_{hours:g}h_48k_stereo.flac"
            t0 = time.perf_counter()
            write_recording(path, hours)
            size = path.stat().st_size
            row = {"hours": hours, "format": "flac/pcm_16 48 kHz stereo", "file_bytes": size,
                   "write_s": round(time.perf_counter() - t0, 1), "code": str(args.code),
                   **measure(path, args.code)}
            path.unlink()
            peak_mb = int(row["peak_kb"]) / 1024  # type: ignore[call-overload]
            print(f"{hours:g} h: peak RSS {peak_mb:.0f} MB, output "
                  f"{int(row['output_bytes']) / 2**20:.0f} MB, "  # type: ignore[call-overload]
                  f"{row['seconds']:.0f} s", flush=True)
            rows.append(row)
    dest = REPO / "benchmarks" / "results" / args.out
    dest.write_text(json.dumps({"date": dt.date.today().isoformat(), "runs": rows}, indent=1),
                    encoding="utf-8")


if __name__ == "__main__":
    main()
