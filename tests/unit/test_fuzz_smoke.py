"""A few hundred fuzz inputs per target on every test run (the long runs are
``benchmarks/fuzz.py``, recorded in benchmarks/README.md): no crash other than the
pipeline's own typed errors.
"""

from __future__ import annotations

import random

import pytest

from tests.fuzz_targets import TARGETS


@pytest.mark.parametrize("name,n", [("audio", 150), ("rubric", 300), ("redact", 2000)])
def test_fuzz_smoke(name, n, tmp_path):
    make, check = TARGETS[name]
    rng = random.Random(f"smoke-{name}")
    for _ in range(n):
        check(make(rng), tmp_path)
