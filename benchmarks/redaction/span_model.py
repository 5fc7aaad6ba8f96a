"""Train the learned reading of digit spans (``qa_pipeline/privacy/spans.py``) and measure it
leave one author out.

The labelled ASR halves were phrased by different authors, so each is a fold: the model is
fitted on the other folds' candidate spans and scored on the one left out, which is what
predicts the next author. A candidate is labelled personal data when it overlaps a gold
mention of its line; lines the ASR lost are in neither. Figures are those of
``benchmarks/redaction_eval.py`` (recall by covered characters, precision by overlap) for
three detectors: the rules alone (``detect_rules``; their cue tables were written from the
misses of most folds, so their per-fold figure is not a leave-one-out one), the learned
spans alone, and both (``detect``).

    PYTHONPATH=. .venv/bin/python benchmarks/redaction/span_model.py \\
        --out redaction_loho_r8.json --write-model

``--write-model`` fits the model on every fold and writes ``qa_pipeline/privacy/span_model.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from redaction_eval import score  # noqa: E402

from qa_pipeline.privacy.cues import find_cues  # noqa: E402
from qa_pipeline.privacy.detect import (  # noqa: E402
    NEED_TAIL_LENGTHS,
    REFERENCE_YIELD_PROBABILITY,
    PiiSpan,
    detect_rules,
    said_otherwise,
    span_candidates,
    with_learned,
)
from qa_pipeline.privacy.spans import MODEL_PATH, Candidate, SpanModel, bare  # noqa: E402
from qa_pipeline.privacy.testset import Sample, load_asr_lines  # noqa: E402

# One fold per author: the first session wrote both of the first file's halves.
FOLDS = {"v1": ("tune", "heldout"), "heldout2": ("heldout2",), "heldout3": ("heldout3",),
         "own4": ("own4",), "heldout4": ("heldout4",), "own5": ("own5",),
         "heldout5": ("heldout5",), "own6": ("own6",), "heldout6": ("heldout6",),
         "heldout7": ("heldout7",), "heldout8": ("heldout8",), "heldout9": ("heldout9",),
         "heldout10": ("heldout10",)}
# L2 strength (scikit-learn's C) and the probability threshold, fixed before any fold was
# scored; --threshold / --c measure others.
C = 1.0
THRESHOLD = 0.5
# The detectors compared: the rules; the rules plus every candidate that nothing said around
# it marks as something else, short ones (a tail) only with a word of a number's end
# ("flipped", no model); the learned spans alone; the rules plus the learned spans ("both",
# what ``detect`` does).
DETECTORS = ("rules", "flipped", "learned", "both")
FLIP_NEED_TAIL = (1, 2, 3, 4, 5, 6)


def fold_samples() -> dict[str, list[Sample]]:
    """The labelled lines of every fold."""
    return {fold: [s for h in halves for s in load_asr_lines(h).samples]
            for fold, halves in FOLDS.items()}


def labelled(sample: Sample, cands: list[tuple[Candidate, dict[str, float]]]
             ) -> list[tuple[dict[str, float], int]]:
    """The candidates of one line with their labels (1: overlaps a gold mention)."""
    return [(feats, int(any(c.start < m.end and c.end > m.start for m in sample.mentions)))
            for c, feats in cands]


def fit(rows: list[tuple[dict[str, float], int]], c: float = C,
        threshold: float = THRESHOLD) -> SpanModel:
    """A logistic regression over ``rows`` (features, label)."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = DictVectorizer()
    x = vec.fit_transform([f for f, _ in rows])
    y = [label for _, label in rows]
    clf = LogisticRegression(C=c, max_iter=2000)
    clf.fit(x, y)
    weights = dict(zip(vec.get_feature_names_out(), clf.coef_[0].tolist(), strict=True))
    return SpanModel(weights, float(clf.intercept_[0]), threshold)


def by_engine(table: dict[str, dict[str, dict[str, object]]], detector: str
              ) -> dict[str, dict[str, float]]:
    """Recall and precision of ``detector`` per TTS voice, pooled over the folds, with the
    worst fold's figure (among folds where the voice has mentions, or detections).
    """
    rec: dict[str, list[dict[str, float]]] = defaultdict(list)
    prec: dict[str, list[dict[str, float]]] = defaultdict(list)
    for row in table.values():
        recall_by = row[detector]["recall_by"]
        precision_by = row[detector]["precision_by"]
        assert isinstance(recall_by, dict) and isinstance(precision_by, dict)
        for key, v in recall_by.items():
            if key.startswith("form:asr:"):
                rec[key.removeprefix("form:asr:")].append(v)
        for key, v in precision_by.items():
            prec[key.removeprefix("engine:")].append(v)
    out: dict[str, dict[str, float]] = {}
    for engine in sorted(set(rec) | set(prec)):
        n = sum(v["n"] for v in rec[engine])
        hits = sum(round(v["recall"] * v["n"]) for v in rec[engine])
        det = sum(v["detected"] for v in prec[engine])
        false = sum(v["false_positives"] for v in prec[engine])
        out[engine] = {"mentions": n, "recall": round(hits / max(n, 1), 4),
                       "worst_recall": min((v["recall"] for v in rec[engine]), default=1.0),
                       "detected": det, "precision": round((det - false) / max(det, 1), 4),
                       "worst_precision": min((v["precision"] for v in prec[engine]
                                               if v["detected"]), default=1.0)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="results file name under benchmarks/results/")
    ap.add_argument("--write-model", action="store_true",
                    help="fit on every fold and write qa_pipeline/privacy/span_model.json")
    ap.add_argument("--c", type=float, default=C)
    ap.add_argument("--threshold", type=float, default=THRESHOLD)
    ap.add_argument("--need-tail", default=",".join(map(str, NEED_TAIL_LENGTHS)),
                    help="lengths (comma-separated, empty for none) of learned spans that "
                         "need a word of a number's end around them")
    ap.add_argument("--reference-yield", type=float, default=REFERENCE_YIELD_PROBABILITY,
                    help="the model's probability from which a reference cue before a "
                         "learned span no longer vetoes it (above 1: never)")
    args = ap.parse_args()
    need_tail = tuple(int(n) for n in args.need_tail.split(",") if n)
    folds = fold_samples()
    cands = {s.text: span_candidates(s.text) for ss in folds.values() for s in ss}
    rules = {s.text: detect_rules(s.text) for ss in folds.values() for s in ss}
    rows = {fold: [r for s in ss for r in labelled(s, cands[s.text])]
            for fold, ss in folds.items()}
    table: dict[str, dict[str, dict[str, object]]] = {}
    for fold, samples in folds.items():
        model = fit([r for f, rs in rows.items() if f != fold for r in rs], args.c,
                    args.threshold)

        def learned(text: str, model: SpanModel = model) -> list[tuple[int, int, str]]:
            cues = find_cues(text)
            return [(c.start, c.end, c.digits) for c, feats in cands[text]
                    if not bare(feats) and (p := model.probability(feats)) >= model.threshold
                    and not said_otherwise(text, cues, c.start, c.end, c.digits,
                                           need_tail, p, args.reference_yield)]

        def flipped(text: str) -> list[PiiSpan]:
            cues = find_cues(text)
            return with_learned(text, list(rules[text]), [
                (c.start, c.end, c.digits) for c, feats in cands[text]
                if not bare(feats) and not said_otherwise(text, cues, c.start, c.end, c.digits,
                                                          FLIP_NEED_TAIL)])

        def learned_only(text: str) -> list[PiiSpan]:
            return with_learned(text, [], learned(text))

        def both(text: str) -> list[PiiSpan]:
            return with_learned(text, list(rules[text]), learned(text))

        table[fold] = {}
        for name, detector in (("rules", lambda t: rules[t]), ("flipped", flipped),
                               ("learned", learned_only), ("both", both)):
            r = score(samples, detector)
            table[fold][name] = {k: r[k] for k in (
                "mentions", "recall", "recall_lt4_left", "precision", "false_positives",
                "missed", "recall_by", "precision_by", "misses", "false_alarms")}
    print(f"| fold | mentions | {' | '.join(f'{d} R / P' for d in DETECTORS)}"
          " |\n|---|---:|---:|---:|---:|")
    for fold, row in table.items():
        cells = " | ".join(f"{row[d]['recall']:.3f} / {row[d]['precision']:.3f}"
                           for d in DETECTORS)
        print(f"| {fold} | {row['rules']['mentions']} | {cells} |")
    summary: dict[str, dict[str, float]] = {}
    for d in DETECTORS:
        rec = [float(str(table[f][d]["recall"])) for f in table]
        prec = [float(str(table[f][d]["precision"])) for f in table]
        left = [float(str(table[f][d]["recall_lt4_left"])) for f in table]
        summary[d] = {"mean_recall_lt4_left": round(statistics.mean(left), 4),
                      "worst_recall_lt4_left": min(left),
                      "mean_recall": round(statistics.mean(rec), 4),
                      "worst_recall": min(rec), "mean_precision": round(statistics.mean(prec), 4),
                      "worst_precision": min(prec)}
    print("| mean (worst) | | " + " | ".join(
        f"{summary[d]['mean_recall']:.3f} ({summary[d]['worst_recall']:.3f}) / "
        f"{summary[d]['mean_precision']:.3f} ({summary[d]['worst_precision']:.3f})"
        for d in DETECTORS) + " |")
    engines = {d: by_engine(table, d) for d in DETECTORS}
    print("\n| TTS voice (both) | mentions | recall pooled (worst fold) | "
          "detected | precision pooled (worst fold) |\n|---|---:|---:|---:|---:|")
    for engine, e in engines["both"].items():
        print(f"| {engine} | {e['mentions']} | {e['recall']:.3f} ({e['worst_recall']:.3f}) | "
              f"{e['detected']} | {e['precision']:.3f} ({e['worst_precision']:.3f}) |")
    if args.out:
        dest = REPO / "benchmarks" / "results" / args.out
        dest.write_text(json.dumps({"c": args.c, "threshold": args.threshold,
                                    "reference_yield": args.reference_yield,
                                    "folds": table, "summary": summary,
                                    "by_engine": engines},
                                   ensure_ascii=False, indent=1), encoding="utf-8")
    if args.write_model:
        model = fit([r for rs in rows.values() for r in rs], args.c, args.threshold)
        MODEL_PATH.write_text(model.to_json() + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
