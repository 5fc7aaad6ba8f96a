"""Over-redaction probe: what ``detect`` finds in the call scripts and act lines of the
benchmark sets (written text by many authors, no labels).

Every distinct turn of ``benchmarks/*/calls_*.jsonl`` and line of ``benchmarks/*/acts_*.tsv``
is run through :func:`qa_pipeline.privacy.detect`; the spans found are written as JSON
(line, kind, span). Those lines hold amounts, doses, rooms, meter readings, order numbers
and some real personal numbers (PINs, tails), so the probe is read, not scored: run it on
two versions of the code and compare with ``--before``, which prints the spans added and
removed.

    PYTHONPATH=. .venv/bin/python benchmarks/redaction/call_script_probe.py \\
        --out call_script_probe_r9.json --before benchmarks/results/call_script_probe_r9_before.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from qa_pipeline.privacy import detect

REPO = Path(__file__).resolve().parents[2]


def script_lines(root: Path) -> list[str]:
    """The distinct turn and act-line texts under ``root`` (``benchmarks``), sorted."""
    lines: set[str] = set()
    for path in sorted(root.glob("*/calls_*.jsonl")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            if raw.strip():
                lines.update(str(t["text"]) for t in json.loads(raw).get("turns", []))
    for path in sorted(root.glob("*/acts_*.tsv")):
        with path.open(encoding="utf-8", newline="") as f:
            lines.update(row["text"] for row in csv.DictReader(f, delimiter="\t",
                                                                quoting=csv.QUOTE_NONE)
                         if row.get("text"))
    return sorted(lines)


def probe(lines: list[str]) -> list[dict[str, str]]:
    """Every span ``detect`` finds in ``lines``: the line, the kind and the span's text."""
    return [{"line": line, "kind": p.kind, "span": p.text} for line in lines
            for p in detect(line)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="results file name under benchmarks/results/")
    ap.add_argument("--before", type=Path, default=None,
                    help="a results file of this probe on earlier code: print what changed")
    args = ap.parse_args()
    lines = script_lines(REPO / "benchmarks")
    found = probe(lines)
    doc: dict[str, object] = {"lines": len(lines), "spans": len(found), "found": found}
    if args.before is not None:
        before = json.loads(args.before.read_text(encoding="utf-8"))
        old = {(f["line"], f["span"]) for f in before["found"]}
        new = {(f["line"], f["span"]) for f in found}
        doc["before_spans"] = before["spans"]
        doc["added"] = [{"line": a, "span": b} for a, b in sorted(new - old)]
        doc["removed"] = [{"line": a, "span": b} for a, b in sorted(old - new)]
        for name in ("added", "removed"):
            for item in doc[name]:  # type: ignore[attr-defined]
                print(f"{name}: {item['span']!r} in {item['line']}")
    print(f"{len(lines)} lines, {len(found)} spans")
    (REPO / "benchmarks" / "results" / args.out).write_text(
        json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
