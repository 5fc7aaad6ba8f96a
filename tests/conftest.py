"""Shared fixtures: synthetic audio, hand-built conversations, contract checks."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Before anything imports prefect (../shared/PREFECT.md): a throw-away Prefect home, no
# telemetry, room for a slow ephemeral-server start on 2 cores.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="callqa-prefect-test-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

REPO = Path(__file__).resolve().parent.parent
SHARED_EVAL = REPO.parent / "shared" / "eval"
DATA_SAMPLES = REPO / "data_samples"


def tone(duration_s: float, sr: int = 16000, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(duration_s * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def write_wav(tmp_path):
    def _write(name: str, data: np.ndarray, sr: int = 16000, subtype: str = "PCM_16",
               fmt: str | None = None) -> Path:
        path = tmp_path / name
        sf.write(str(path), data.T if data.ndim == 2 else data, sr, subtype=subtype, format=fmt)
        return path
    return _write


def requires_eval():
    return pytest.mark.skipif(not SHARED_EVAL.is_dir(), reason="../shared/eval is absent")
