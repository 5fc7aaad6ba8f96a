"""Old vs refitted act models after the corpus grows by an author (issue 24).

    python benchmarks/act_refit_compare.py --old-lex OLD_LEX.npz --old-head OLD_HEAD.npz \\
        --new-author extra_h9 --in-training heldout9 --embedding-cache /tmp/emb.npz \\
        --out benchmarks/results/acts14_refit.json

For the ensemble (``--old-lex`` vs ``--new-lex``, default the packaged one) and the
embedding-only heads (``--old-head`` vs ``--new-head``):

(a) ``out_of_author``: each author's macro-F1 left out, per language, from the two cards
    (``validation_by_author``: fold models, calibrations and thresholds fitted without that
    author). The new author has no row in the old card; its "before" is the old model itself
    scoring that author's training files, which it never saw (``old_scored_directly``).
(b) ``validation``: the cards' validation split figures (never fitted on).
(c) ``verdicts``: rubric verdicts on the text of the spent scripted sets
    (``heldout_eval.py --part calls --set benchmarks/<set>``), old vs new ensemble, stereo and
    mono apart. Sets named by ``--in-training`` share wording with act lines the new model was
    trained on, so their rows are marked as such. Each model is scored in its own process so
    that no cache of the first model leaks into the second's verdicts.

``worst_change`` (the largest fall of any author's left-out macro-F1) and
``fatal_recall_lost_on`` (the set / layout rows that lose fatal recall) are what a refit is
judged by before its weights are kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

SPENT_SETS = ("heldout", "heldout2", "heldout3", "heldout5", "heldout6", "heldout7", "heldout8",
              "heldout9")
LAYOUTS = ("stereo", "mono")
VERDICT_KEYS = ("calls", "fatal_recall", "fatal_precision", "non_fatal_f1",
                "per_call_fatal_agreement")


def set_verdicts(act_model: Path, sets: Sequence[str]) -> dict[str, Any]:
    """Rubric verdicts of every set's scripted calls with ``act_model`` (this process only)."""
    import heldout_eval

    from qa_pipeline.acts import use_act_model

    model_id = use_act_model(act_model)
    out: dict[str, Any] = {"act_model": model_id, "sets": {}}
    for name in sets:
        calls = heldout_eval.evaluate_calls(REPO / "rubrics", None, REPO / "benchmarks" / name)
        out["sets"][name] = {layout: {k: calls[layout][k] for k in VERDICT_KEYS}
                             | {"criteria": calls[layout]["criteria"]} for layout in LAYOUTS}
        print(f"{model_id} {name}: " + ", ".join(
            f"{lay} R {out['sets'][name][lay]['fatal_recall']}" for lay in LAYOUTS),
            file=sys.stderr, flush=True)
    return out


def verdicts_in_subprocess(act_model: Path, sets: Sequence[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--verdicts-of", str(act_model),
           "--sets", *sets]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def scored_directly(weights: Path, author: str, embedding_cache: Path | None
                    ) -> dict[str, Any]:
    """``author``'s training files scored by the model at ``weights`` (which never saw them),
    with the model's own calibration and thresholds; macro-F1 as the cards compute it.
    """
    import numpy as np

    from qa_pipeline.acts import load_act_model
    from qa_pipeline.acts.taxonomy import read_act_corpus
    from qa_pipeline.acts.train import (
        CORPUS,
        FileCachedEmbedder,
        author_of,
        evaluate,
        label_matrix,
        training_files,
    )
    from qa_pipeline.rubric.embeddings import Embedder, default_embedder

    embedder: Embedder = default_embedder()
    if embedding_cache is not None:
        embedder = FileCachedEmbedder(embedder, embedding_cache)
    fixed = embedder
    model = load_act_model(weights, embedder_factory=lambda: fixed)
    thresholds = np.array([model.threshold(a) for a in model.acts])
    out: dict[str, Any] = {"model_id": model.model_id}
    for path in training_files(CORPUS):
        if author_of(path) != author:
            continue
        examples = read_act_corpus(path)
        probs = np.asarray(model.predict_texts([ex.text for ex in examples],
                                               [ex.role for ex in examples]))
        lang = examples[0].lang
        out[f"{author}_{lang}"] = evaluate(probs, label_matrix(examples, model.acts),
                                           thresholds, model.acts)
    return out


def _card(weights: Path) -> dict[str, Any]:
    card: dict[str, Any] = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
    return card


def compare_cards(old: Path, new: Path, new_author: str | None,
                  embedding_cache: Path | None) -> dict[str, Any]:
    """Per author and language, left-out macro-F1 before / after, and the validation split."""
    before, after = _card(old), _card(new)
    old_by, new_by = before["validation_by_author"], after["validation_by_author"]
    direct = scored_directly(old, new_author, embedding_cache) if new_author else {}
    rows: dict[str, Any] = {}
    for key in sorted(new_by):
        if key in old_by:
            b, how = old_by[key]["macro_f1"], "left out"
        elif key in direct:
            b, how = direct[key]["macro_f1"], "old_scored_directly"
        else:
            b, how = None, "absent"
        a = new_by[key]["macro_f1"]
        rows[key] = {"before": b, "after": a,
                     "change": round(a - b, 4) if b is not None else None, "before_is": how}
    drops = [r["change"] for r in rows.values() if r["change"] is not None]
    return {
        "old_model": before["model_id"], "new_model": after["model_id"],
        "old_authors": len(before["train_authors"]), "new_authors": len(after["train_authors"]),
        "out_of_author_macro_f1": rows,
        "worst_change": min(drops) if drops else None,
        "validation": {k: {"before": before["validation"].get(k, {}).get("macro_f1"),
                           "after": v["macro_f1"]} for k, v in after["validation"].items()},
    }


def compare_verdicts(old: dict[str, Any], new: dict[str, Any],
                     in_training: Sequence[str]) -> dict[str, Any]:
    """Per set and layout, the verdict figures before / after and the fatal recall change."""
    rows: dict[str, Any] = {}
    for name, layouts in new["sets"].items():
        for layout in LAYOUTS:
            b, a = old["sets"][name][layout], layouts[layout]
            rows[f"{name}/{layout}"] = {
                "in_training": name in in_training,
                "before": {k: b[k] for k in VERDICT_KEYS},
                "after": {k: a[k] for k in VERDICT_KEYS},
                "fatal_recall_change": round(a["fatal_recall"] - b["fatal_recall"], 4)}
    return {"old_model": old["act_model"], "new_model": new["act_model"], "rows": rows,
            "fatal_recall_lost_on": [k for k, r in rows.items() if r["fatal_recall_change"] < 0]}


def main(argv: Sequence[str] | None = None) -> int:
    from qa_pipeline.acts.model import HEAD_WEIGHTS_PATH, LEXICAL_WEIGHTS_PATH

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--old-lex", type=Path)
    ap.add_argument("--new-lex", type=Path, default=LEXICAL_WEIGHTS_PATH)
    ap.add_argument("--old-head", type=Path)
    ap.add_argument("--new-head", type=Path, default=HEAD_WEIGHTS_PATH)
    ap.add_argument("--new-author", default=None,
                    help="the author group added to the corpus, e.g. extra_h9")
    ap.add_argument("--sets", nargs="*", default=list(SPENT_SETS))
    ap.add_argument("--in-training", nargs="*", default=[],
                    help="sets whose act lines the new model was trained on")
    ap.add_argument("--embedding-cache", type=Path, default=None)
    ap.add_argument("--no-verdicts", action="store_true")
    ap.add_argument("--verdicts-of", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.verdicts_of is not None:
        print(json.dumps(set_verdicts(args.verdicts_of, args.sets)))
        return 0
    if args.old_lex is None or args.old_head is None:
        ap.error("--old-lex and --old-head are required")
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "ensemble": compare_cards(args.old_lex, args.new_lex, args.new_author,
                                  args.embedding_cache),
        "embedding_only": compare_cards(args.old_head, args.new_head, args.new_author,
                                        args.embedding_cache),
    }
    for part in ("ensemble", "embedding_only"):
        r = result[part]
        print(f"{part}: {r['old_model']} -> {r['new_model']}, worst author change "
              f"{r['worst_change']}")
        for key, row in r["out_of_author_macro_f1"].items():
            print(f"  {key:14s} {row['before']} -> {row['after']} ({row['before_is']})")
    if not args.no_verdicts:
        result["verdicts"] = compare_verdicts(verdicts_in_subprocess(args.old_lex, args.sets),
                                              verdicts_in_subprocess(args.new_lex, args.sets),
                                              args.in_training)
        for key, row in result["verdicts"]["rows"].items():
            b, a = row["before"], row["after"]
            print(f"  {key:18s} fatal R {b['fatal_recall']} -> {a['fatal_recall']}, P "
                  f"{b['fatal_precision']} -> {a['fatal_precision']}"
                  + (" (in training)" if row["in_training"] else ""))
    if args.out:
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n",
                            encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
