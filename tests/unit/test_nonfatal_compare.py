"""benchmarks/nonfatal_compare.py pools summaries from their counts, not by averaging ratios."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import nonfatal_compare  # noqa: E402


def _summary(calls: int, agree: float, fatal: tuple[int, int, int],
             non_fatal: tuple[int, int, int]) -> dict[str, object]:
    def counts(c: tuple[int, int, int]) -> dict[str, int]:
        return {"tp": c[0], "fp": c[1], "fn": c[2], "tn": 0}
    return {"calls": calls, "per_call_fatal_agreement": agree,
            "fatal_counts": counts(fatal), "non_fatal_counts": counts(non_fatal),
            "criteria": {"greeting": {"severity": "non_fatal", "tp": non_fatal[0],
                                      "fp": non_fatal[1], "fn": non_fatal[2]}}}


def test_pooled_figures_come_from_summed_counts():
    a = _summary(10, 0.9, (9, 0, 1), (8, 2, 0))
    b = _summary(30, 1.0, (1, 1, 0), (2, 0, 2))
    p = nonfatal_compare.pooled([a, b])
    assert p["calls"] == 40
    assert p["fatal_recall"] == round(10 / 11, 4)
    assert p["fatal_precision"] == round(10 / 11, 4)
    assert p["non_fatal_f1"] == round(20 / (20 + 2 + 2), 4)
    assert p["per_call_fatal_agreement"] == round(39 / 40, 4)
    assert p["criteria"]["greeting"] == {"severity": "non_fatal", "tp": 10, "fp": 2, "fn": 2}


def test_no_positives_gives_no_ratio():
    p = nonfatal_compare.pooled([_summary(2, 1.0, (0, 0, 0), (0, 0, 0))])
    assert p["fatal_recall"] is None and p["non_fatal_f1"] is None
