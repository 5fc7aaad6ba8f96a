"""Before / after table of verdict figures written by ``heldout_eval.py`` and ``labelled_eval.py``.

    .venv/bin/python benchmarks/fatal_context_compare.py benchmarks/results/monoprec \
        --out benchmarks/results/fatal_context_compare.json

The folder holds one JSON result per run, named ``<before|after>_<what>.json``: ``what`` is
``text_<set>`` (``heldout_eval.py --part calls --out``), ``labelled_text`` / ``labelled_audio``
(``labelled_eval.py --text-out`` / ``--audio-out``) or ``audio_<set>`` (``labelled_eval.py
--no-text --audio-out``). For every ``what`` found under both names this writes, per slice
(layout, and for the labelled text each half's layout), fatal recall, fatal precision,
non-fatal F1, per-call fatal agreement and the fatal tp / fp / fn counts, and flags a slice
whose fatal recall dropped.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LAYOUTS = ("stereo", "mono")


def slices(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The layout slices of one result file, by name."""
    if "calls" in result:  # heldout_eval
        return {layout: result["calls"][layout] for layout in LAYOUTS}
    if "tune" in result:  # labelled_eval, text
        return {f"{half} {layout}": result[half][layout]
                for half in ("tune", "test") for layout in LAYOUTS}
    return {layout: result[layout] for layout in LAYOUTS if layout in result}


def figures(s: dict[str, Any]) -> dict[str, Any]:
    """The figures of one slice that the table shows."""
    counts = s["fatal_counts"]
    return {"calls": s["calls"], "fatal_recall": s["fatal_recall"],
            "fatal_precision": s["fatal_precision"], "non_fatal_f1": s["non_fatal_f1"],
            "per_call_fatal_agreement": s["per_call_fatal_agreement"],
            "fatal_tp_fp_fn": [counts["tp"], counts["fp"], counts["fn"]]}


def compare(folder: Path) -> list[dict[str, Any]]:
    """One row per (what, slice) found before and after, in name order."""
    rows = []
    for before_path in sorted(folder.glob("before_*.json")):
        what = before_path.stem.removeprefix("before_")
        after_path = folder / f"after_{what}.json"
        if not after_path.exists():
            continue
        before = slices(json.loads(before_path.read_text(encoding="utf-8")))
        after = slices(json.loads(after_path.read_text(encoding="utf-8")))
        for name in before:
            if name not in after:
                continue
            b, a = figures(before[name]), figures(after[name])
            rows.append({"what": what, "slice": name, "before": b, "after": a,
                         "fatal_recall_dropped": a["fatal_recall"] < b["fatal_recall"]})
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a README table (fatal R / P, non-fatal F1, agreement; before -> after)."""
    def cell(f: dict[str, Any]) -> str:
        return (f"{f['fatal_recall']:.3f} / {f['fatal_precision']:.3f}, "
                f"{f['non_fatal_f1']:.3f}, {100 * f['per_call_fatal_agreement']:.1f} %")
    lines = ["| data | slice | before | after |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['slice']} ({r['before']['calls']}) | "
                     f"{cell(r['before'])} | {cell(r['after'])} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("folder", type=Path, help="folder of before_* / after_* results")
    ap.add_argument("--out", type=Path, required=True, help="write the comparison here")
    args = ap.parse_args(argv)
    rows = compare(args.folder)
    args.out.write_text(json.dumps({"rows": rows}, ensure_ascii=False, indent=1) + "\n",
                        encoding="utf-8")
    print(markdown(rows))
    dropped = [f"{r['what']} {r['slice']}" for r in rows if r["fatal_recall_dropped"]]
    print("fatal recall dropped on: " + (", ".join(dropped) if dropped else "none"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
