"""Before / after table of text verdicts on the spent sets, stereo and mono apart (issue 24).

    python benchmarks/nonfatal_compare.py --before DIR --after DIR \
        --sets heldout,heldout2,heldout3,heldout5,heldout6,heldout7,heldout8,heldout9,labelled \
        --dev heldout7,heldout8,heldout9 --out benchmarks/results/textnf_nonfatal.json

Each DIR holds ``<set>.json`` as ``heldout_eval.py --part calls --set benchmarks/<set> --out``
writes it and ``labelled.json`` as ``labelled_eval.py --no-audio --text-out`` writes it (its
``test`` and ``tune`` halves become ``labelled_test`` and ``labelled_tune``). The result holds,
per set and layout, fatal recall / precision, non-fatal F1 and per-call fatal agreement before
and after; the same pooled over the sets outside ``--dev`` (the sets the change was not
developed on) and over the ``--dev`` sets; and per criterion tp / fp / fn, pooled the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

LAYOUTS = ("stereo", "mono")
COUNTS = ("tp", "fp", "fn", "tn")


def layouts_of(path: Path) -> dict[str, dict[str, Mapping[str, Any]]]:
    """set name -> layout -> summary (``scripted_calls.summarize``'s form) of one result file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if "calls" in data:  # heldout_eval.py
        return {path.stem: {k: data["calls"][k] for k in LAYOUTS}}
    return {f"{path.stem}_{half}": {k: data[half][k] for k in LAYOUTS}  # labelled_eval.py
            for half in ("test", "tune") if half in data}


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def pooled(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Fatal recall / precision, non-fatal F1 and per-call agreement over several summaries,
    from their counts; and per criterion tp / fp / fn.
    """
    fatal = dict.fromkeys(COUNTS, 0)
    non_fatal = dict.fromkeys(COUNTS, 0)
    criteria: dict[str, dict[str, int]] = {}
    calls = agree = 0
    for s in summaries:
        for k in COUNTS:
            fatal[k] += s["fatal_counts"][k]
            non_fatal[k] += s["non_fatal_counts"][k]
        calls += s["calls"]
        agree += round(s["per_call_fatal_agreement"] * s["calls"])
        for cid, c in s["criteria"].items():
            row = criteria.setdefault(cid, {"severity": c["severity"], "tp": 0, "fp": 0, "fn": 0})
            for k in ("tp", "fp", "fn"):
                row[k] += c[k]
    tp, fp, fn = non_fatal["tp"], non_fatal["fp"], non_fatal["fn"]
    return {
        "calls": calls,
        "fatal_recall": _ratio(fatal["tp"], fatal["tp"] + fatal["fn"]),
        "fatal_precision": _ratio(fatal["tp"], fatal["tp"] + fatal["fp"]),
        "non_fatal_f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "per_call_fatal_agreement": _ratio(agree, calls),
        "criteria": criteria,
    }


def compare(before: Path, after: Path, sets: list[str], dev: set[str]) -> dict[str, Any]:
    """The result object (see the module docstring)."""
    runs: dict[str, dict[str, dict[str, Mapping[str, Any]]]] = {"before": {}, "after": {}}
    for tag, folder in (("before", before), ("after", after)):
        for name in sets:
            runs[tag].update(layouts_of(folder / f"{name}.json"))
    names = sorted(runs["before"])
    out: dict[str, Any] = {"dev_sets": sorted(dev), "sets": {}, "pooled": {}}
    keep = ("calls", "fatal_recall", "fatal_precision", "non_fatal_f1",
            "per_call_fatal_agreement")
    for name in names:
        out["sets"][name] = {lay: {tag: {k: runs[tag][name][lay][k] for k in keep}
                                   for tag in runs} for lay in LAYOUTS}
    groups = {"held_out": [n for n in names if n not in dev],
              "dev": [n for n in names if n in dev]}
    for group, members in groups.items():
        out["pooled"][group] = {"sets": members}
        for lay in LAYOUTS:
            out["pooled"][group][lay] = {tag: pooled(runs[tag][n][lay] for n in members)
                                         for tag in runs}
    return out


def _fmt(s: Mapping[str, Any]) -> str:
    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"
    return (f"{f(s['fatal_recall'])} / {f(s['fatal_precision'])}, {f(s['non_fatal_f1'])}, "
            f"{100 * s['per_call_fatal_agreement']:.1f} %")


def markdown(result: Mapping[str, Any]) -> str:
    """The README tables: per set and layout, and per criterion pooled over the held-out sets."""
    lines = ["| set | layout | before | after |", "|---|---|---|---|"]
    for name, lay_rows in result["sets"].items():
        for lay in LAYOUTS:
            r = lay_rows[lay]
            lines.append(f"| {name} | {lay} | {_fmt(r['before'])} | {_fmt(r['after'])} |")
    for group, rows in result["pooled"].items():
        for lay in LAYOUTS:
            lines.append(f"| **{group} pooled** | {lay} | {_fmt(rows[lay]['before'])} | "
                         f"{_fmt(rows[lay]['after'])} |")
    lines += ["", "| criterion | layout | before tp/fp/fn | after tp/fp/fn |", "|---|---|---|---|"]
    held = result["pooled"]["held_out"]
    for cid in sorted(held["stereo"]["before"]["criteria"]):
        for lay in LAYOUTS:
            b = held[lay]["before"]["criteria"].get(cid)
            a = held[lay]["after"]["criteria"].get(cid)
            if b is None or a is None:
                continue
            lines.append(f"| {cid} | {lay} | {b['tp']}/{b['fp']}/{b['fn']} | "
                         f"{a['tp']}/{a['fp']}/{a['fn']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, required=True)
    ap.add_argument("--sets", required=True, help="comma-separated result file stems")
    ap.add_argument("--dev", default="", help="comma-separated sets the change was developed on")
    ap.add_argument("--out", type=Path, help="write the JSON result here")
    args = ap.parse_args(argv)
    result = compare(args.before, args.after, [s for s in args.sets.split(",") if s],
                     {s for s in args.dev.split(",") if s})
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(markdown(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
