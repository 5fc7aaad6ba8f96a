"""Per-stage cost measurement: wall, CPU and GPU-occupied seconds for billing."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from qa_pipeline.runner import warmup
from qa_pipeline.store import StageSeconds
from qa_pipeline.tenants import TenantConfig


@dataclass
class Meter:
    """Collects :class:`StageSeconds` as stages run.

    CPU seconds are the process's (all threads: CTranslate2 and torch run their own) less
    those of background warm-ups (:mod:`qa_pipeline.runner.warmup`), which load for the whole
    run, not for the call being measured; the runner runs stages one at a time.
    GPU seconds are the wall seconds of stages that ran on a CUDA device (the device was
    held for the call that long), 0 on CPU.
    """

    stages: list[StageSeconds] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str, device: str = "cpu") -> Iterator[None]:
        """Measure the ``with`` body as stage ``name``."""
        w0, c0 = time.perf_counter(), time.process_time() - warmup.cpu_s()
        try:
            yield
        finally:
            wall = time.perf_counter() - w0
            cpu = max(0.0, time.process_time() - warmup.cpu_s() - c0)
            gpu = wall if device.startswith("cuda") else 0.0
            self.stages.append(StageSeconds(name, round(wall, 4), round(cpu, 4), round(gpu, 4),
                                            "cuda" if gpu else "cpu"))


def resolve_device(device: str) -> str:
    """A configured device with ``auto`` resolved (CUDA when torch sees a GPU)."""
    if device == "auto":
        torch = sys.modules.get("torch")
        return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
    return device


def scoring_device(tenant: TenantConfig) -> str:
    """Where scoring runs: only a ``transformers`` sentiment model uses a GPU (the embedded
    head is numpy).
    """
    if tenant.sentiment.backend != "transformers":
        return "cpu"
    return resolve_device(tenant.sentiment.device)
