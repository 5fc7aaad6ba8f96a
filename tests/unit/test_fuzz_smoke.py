"""Fuzz smoke tests with hypothesis driving the structure-aware generators (the long runs
are ``benchmarks/fuzz.py``, recorded in benchmarks/README.md): every input loads or is
refused with the pipeline's own typed error.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_targets import TARGETS

_WORKDIR = Path(tempfile.mkdtemp(prefix="callqa-fuzz-"))


def _fuzz(name: str, examples: int):
    make, check = TARGETS[name]

    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.randoms(use_true_random=False))
    def run(rng):
        check(make(rng), _WORKDIR)

    return run


@pytest.mark.parametrize("name,examples", [("audio", 150), ("rubric", 300), ("alias", 200),
                                               ("redact", 1000)])
@pytest.mark.timeout(600, method="thread")
def test_fuzz_smoke(name, examples):
    _fuzz(name, examples)()
