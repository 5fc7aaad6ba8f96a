"""Regression gate for the rubric engine (issue 25): the first 40 conversations of
``benchmarks/rubric_equivalence.py`` (perturbed reference calls, the phrase rubrics of
cac5a84) must give byte for byte the verdicts recorded from ``cac5a84``, the last commit
with compiled kernels. The full 405-call gate is the script itself (see benchmarks/README.md).

When a change of the shipped rubrics or of matching is meant to change verdicts, record the
new digest with the script (``--calls 40``) and say why in the commit.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.helpers import load_script

REPO = Path(__file__).resolve().parents[2]

# benchmarks/rubric_equivalence.py --calls 40 at cac5a84 (the same with either kernel set).
RECORDED_SHA256 = "463e0071546f478e673c7b74c2d355078eb4f25140132a9d05d570b792004cfe"


def _gate():
    return load_script("benchmarks/rubric_equivalence.py", "rubric_equivalence")


def test_verdicts_on_40_perturbed_calls_are_byte_identical_to_the_recorded_ones():
    gate = _gate()
    text = gate.verdicts_json(40)
    hits = gate.match_counts(text)
    # The set exercises every matching method the shipped rubrics use.
    assert hits["exact"] > 100 and hits["pinyin"] > 20 and hits["fuzzy"] > 5, hits
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == RECORDED_SHA256, (
        "rubric verdicts changed: diff `benchmarks/rubric_equivalence.py --calls 40 --out X` "
        "against the same run in a checkout of cac5a84")


def test_the_gate_builds_the_same_calls_whatever_their_number():
    gate = _gate()
    assert gate.build_calls(7) == gate.build_calls(12)[:7]


def test_one_pure_python_implementation_without_a_build_step():
    """Issue 25: no compiled kernels, no build hook, no switch between two implementations."""
    assert not list((REPO / "qa_pipeline").rglob("*.c"))
    assert not list((REPO / "qa_pipeline").rglob("*.pyi"))
    for gone in ("hatch_build.py", "qa_pipeline/kernels.py"):
        assert not (REPO / gone).exists(), gone
    assert "hooks.custom" not in (REPO / "pyproject.toml").read_text(encoding="utf-8")
    sources = [*(REPO / "qa_pipeline").rglob("*.py"), REPO / ".ci" / "run",
               REPO / "pyproject.toml", REPO / ".gitignore"]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for switch in ("QA_PIPELINE_PURE_PYTHON", "QA_PIPELINE_REQUIRE_NATIVE", "_kernels"):
            assert switch not in text, (path, switch)
