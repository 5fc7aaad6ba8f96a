"""benchmarks/act_refit_compare.py: the gate figures of an act-model refit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import act_refit_compare as arc  # noqa: E402


def _card(path: Path, model_id: str, by_author: dict[str, float], authors: int,
          valid: float) -> Path:
    card = {"model_id": model_id, "train_authors": {f"a{i}": 1 for i in range(authors)},
            "validation_by_author": {k: {"macro_f1": v} for k, v in by_author.items()},
            "validation": {"zh": {"macro_f1": valid}}}
    path.with_suffix(".json").write_text(json.dumps(card), encoding="utf-8")
    return path


def test_cards_compare_the_same_author_left_out_and_name_the_worst_fall(tmp_path):
    old = _card(tmp_path / "old.npz", "m@old", {"p_zh": 0.90, "b_zh": 0.80}, 2, 0.9)
    new = _card(tmp_path / "new.npz", "m@new", {"p_zh": 0.92, "b_zh": 0.785, "c_zh": 0.7}, 3,
                0.91)
    out = arc.compare_cards(old, new, None, None)
    rows = out["out_of_author_macro_f1"]
    assert rows["p_zh"] == {"before": 0.9, "after": 0.92, "change": 0.02,
                            "before_is": "left out"}
    assert rows["b_zh"]["change"] == -0.015
    # An author the old card lacks has no "before" unless it is scored directly.
    assert rows["c_zh"]["before"] is None and rows["c_zh"]["before_is"] == "absent"
    assert out["worst_change"] == -0.015
    assert (out["old_authors"], out["new_authors"]) == (2, 3)
    assert out["validation"] == {"zh": {"before": 0.9, "after": 0.91}}


def _verdicts(model: str, recall: dict[str, float]) -> dict:
    row = {"calls": 26, "fatal_precision": 1.0, "non_fatal_f1": 0.9,
           "per_call_fatal_agreement": 1.0}
    return {"act_model": model, "sets": {
        name: {layout: {**row, "fatal_recall": r} for layout in arc.LAYOUTS}
        for name, r in recall.items()}}


def test_verdicts_name_every_row_that_loses_fatal_recall_and_mark_sets_in_training():
    old = _verdicts("m@old", {"heldout": 0.9, "heldout9": 1.0})
    new = _verdicts("m@new", {"heldout": 0.95, "heldout9": 0.9})
    out = arc.compare_verdicts(old, new, ["heldout9"])
    assert out["fatal_recall_lost_on"] == ["heldout9/stereo", "heldout9/mono"]
    assert out["rows"]["heldout/mono"]["fatal_recall_change"] == 0.05
    assert out["rows"]["heldout9/mono"]["in_training"]
    assert not out["rows"]["heldout/stereo"]["in_training"]
