"""What a reviewer's pointing buys ``rubric tune`` on wording the tuner never saw (issue 24).

    python benchmarks/missed_eval.py --per-language 48 --out benchmarks/results/missed_eval.json

Monitors review the ``tune`` half of the labelled calls (``benchmarks/labelled_calls.py``,
as text: one utterance per turn, no ASR) on the review desk of a temporary store: every
labelled criterion gets its label as the monitor's verdict, every other item is confirmed.
Where the rules missed a planted violation (label ``fail``, automated verdict not ``fail``),
the monitor points at the planted turn (the plan knows which turn carries it). ``rubric
tune`` then runs on the default rubric of each language twice: on the reviews as they are
(``pointing``) and with every pointing removed (``no_pointing``: what tune could learn
before reviewers could point). Each candidate goes through the gates of ``rubric tune``
(kept changes raise tune agreement and lower no criterion naming the act; published only
when no criterion regresses on the held-out reviews).

The current and both tuned rubrics then score the ``test`` half, whose wording the tuner
never saw: as text, and from the committed transcripts of its audio
(``benchmarks/labelled/test_half_transcripts.json.gz``, via ``labelled_eval.py``). Reported
per criterion (precision / recall of "fail") and fatal R/P, non-fatal F1, per-call fatal
agreement, per language and layout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "benchmarks"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import labelled_calls  # noqa: E402
import labelled_eval  # noqa: E402
import scripted_calls  # noqa: E402

from qa_pipeline import __version__  # noqa: E402
from qa_pipeline.pipeline import CallAnalyzers, score_conversation  # noqa: E402
from qa_pipeline.review import RubricCatalog  # noqa: E402
from qa_pipeline.review.desk import ReviewDesk  # noqa: E402
from qa_pipeline.review.tuning import candidate_text, reviewed_calls  # noqa: E402
from qa_pipeline.rubric.loader import load_rubric, load_rubric_text  # noqa: E402
from qa_pipeline.rubric.tune import (  # noqa: E402
    ReviewedCall,
    TuneOptions,
    base_act_model,
    compare_rubrics,
    tune_rubric,
)
from qa_pipeline.store import Store  # noqa: E402

# The blocks of labelled_calls.py that carry each criterion's planted violation.
PLANTED = {"abusive_language": ("abuse",), "unauthorized_promise": ("promise",),
           "forbidden_phrases": ("forbidden",), "customer_complaint": ("complaint",),
           "empathy_on_complaint": ("no_empathy",), "greeting": ("greeting_bad",),
           "closing": ("curt_end",), "identity_verification": ("disclose",)}
VARIANTS = ("no_pointing", "pointing")


def planted_turns(pc: labelled_calls.PlannedCall, criterion_id: str) -> tuple[int, ...]:
    """Indices of the turns (= utterances of the text call) that carry the criterion's
    planted violation."""
    blocks = PLANTED.get(criterion_id, ())
    return tuple(i for i, pid in enumerate(pc.phrasing_ids) if pid.split(":")[2] in blocks)


def review_tune_half(lang: str, per_language: int, seed: int, analyzers: CallAnalyzers,
                     workdir: Path) -> tuple[list[ReviewedCall], dict[str, Any]]:
    """Score the tune half of one language into a store and review it as the monitors do;
    returns the reviewed calls (read back as ``rubric tune`` reads them) and what the
    monitors did."""
    rubric_path = REPO / "rubrics" / f"customer_service_{lang}.yaml"
    rubric = load_rubric(rubric_path)
    store = Store(f"sqlite:///{workdir / f'qa_{lang}.db'}")
    store.register_tenant("demo")
    tenant = store.tenant("demo")
    desk = ReviewDesk(tenant, RubricCatalog([rubric_path]))
    planned = [pc for pc in labelled_calls.plan("tune", seed=seed, per_language=per_language)
               if pc.call.language == lang]
    pointed: dict[str, int] = {}
    misses: dict[str, int] = {}
    for pc in planned:
        call = labelled_eval.to_scripted(pc)
        conv = scripted_calls.to_conversation(call, "demo")
        tenant.save_conversation(conv, frontend_key="scripted", meta={
            "agent_id": pc.call.agent_id, "started_at": pc.call.started_at})
        scored = score_conversation(conv, rubric, analyzers=analyzers)
        sid = tenant.save_scorecard(scored)
        for item in scored.to_dict()["items"]:
            cid = item["criterion_id"]
            label = call.expected.get(cid)
            if label is None:
                continue  # confirmed below
            where: tuple[int, ...] = ()
            if label == "fail" and item["provisional_status"] != "fail":
                misses[cid] = misses.get(cid, 0) + 1
                where = planted_turns(pc, cid)
                if where:
                    pointed[cid] = pointed.get(cid, 0) + 1
            desk.review_item(sid, cid, label, reviewer="monitor", utterances=where,
                             comment="label of the planted call")
        for item in desk.card(sid)["items"]:
            if item["status"] == "needs_review" and item.get("kind") != "flag" \
                    and not item.get("review"):
                desk.review_item(sid, item["criterion_id"], item["provisional_status"],
                                 reviewer="monitor", comment="nothing planted")
        desk.confirm_remaining(sid, reviewer="monitor")
    calls, missing = reviewed_calls(tenant, rubric.id)
    store.close()
    assert not missing
    return calls, {"calls": len(planned), "misses": misses, "pointed_items": pointed}


def tune_variant(lang: str, calls: Sequence[ReviewedCall], variant: str,
                 options: TuneOptions, model: Any) -> dict[str, Any]:
    """``rubric tune`` on one language's reviews (pointing removed for ``no_pointing``):
    its changes, the held-out comparison and the candidate's YAML."""
    if variant == "no_pointing":
        calls = [replace(c, pointed={}) for c in calls]
    path = REPO / "rubrics" / f"customer_service_{lang}.yaml"
    current = load_rubric(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    result = tune_rubric(data, current, calls, model, options)
    version = int(current.version) + 1
    text = candidate_text(result, current, version, "demo", dt.datetime(2026, 12, 7))
    candidate = load_rubric_text(text, f"{current.id}@{version} (candidate)")
    comparison = compare_rubrics(current, candidate, calls, result.test_calls, model)
    return {"tune_s": round(time.perf_counter() - t0, 1),
            "changes": [c.to_dict() for c in result.changes],
            "unchanged": [u.to_dict() for u in result.unchanged],
            "tune_calls": len(result.tune_calls), "heldout_reviews": len(result.test_calls),
            "comparison": comparison.to_dict(),
            "publishable": bool(result.changes) and comparison.publishable,
            "candidate_yaml": text}


def rubric_dir_with(candidates: Mapping[str, str], target: Path) -> Path:
    """A copy of ``rubrics/`` with the candidates (language -> YAML) in place."""
    shutil.copytree(REPO / "rubrics", target)
    for lang, text in candidates.items():
        (target / f"customer_service_{lang}.yaml").write_text(text, encoding="utf-8")
    return target


def score_test_half(rubric_dir: Path, analyzers: CallAnalyzers) -> dict[str, Any]:
    """The test half scored with ``rubric_dir``: as text and from the committed
    transcripts."""
    text = labelled_eval.score_text(rubric_dir, analyzers, halves=("test",))["test"]
    audio = labelled_eval.score_audio(labelled_eval.BUNDLE, rubric_dir, analyzers)
    return {"text": text, "audio": audio}


def _short(summary: Mapping[str, Any]) -> str:
    return (f"fatal R/P {summary['fatal_recall']:.3f}/{summary['fatal_precision']:.3f} "
            f"nf F1 {summary['non_fatal_f1']:.3f} "
            f"agree {100 * summary['per_call_fatal_agreement']:.1f}%")


def _r(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def markdown(out: Mapping[str, Any]) -> str:
    """The README tables of a result: headline figures and per-criterion P / R of "fail"
    on the test half, per language, current vs each tuned variant."""
    test = out["test_half"]
    names = ("current", *VARIANTS)
    lines = ["| test half | lang | rubric | fatal R / P | non-fatal F1 | per-call fatal "
             "agreement |", "|---|---|---|---|---|---|"]
    for kind in ("text", "audio"):
        for sub in ("zh", "en", "all"):
            for name in names:
                s = test[name][kind][sub]
                lines.append(f"| {kind} | {sub} | {name} | {_r(s['fatal_recall'])} / "
                             f"{_r(s['fatal_precision'])} | {_r(s['non_fatal_f1'])} | "
                             f"{100 * s['per_call_fatal_agreement']:.1f} % |")
    lines += ["", "| criterion (P / R of fail) | lang | " + " | ".join(
        f"{kind}: {name}" for kind in ("text", "audio") for name in names) + " |",
        "|---|---|" + "---|" * (2 * len(names))]
    criteria = sorted(test["current"]["text"]["all"]["criteria"])
    for cid in criteria:
        for sub in ("zh", "en"):
            cells = []
            for kind in ("text", "audio"):
                for name in names:
                    c = test[name][kind][sub]["criteria"].get(cid)
                    cells.append("–" if c is None else
                                 f"{_r(c['precision'])} / {_r(c['recall'])}")
            lines.append(f"| {cid} | {sub} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--per-language", type=int, default=48,
                    help="tune-half calls per language the monitors review")
    ap.add_argument("--seed", type=int, default=labelled_calls.DEFAULT_SEED)
    ap.add_argument("--holdout-share", type=float, default=0.3)
    ap.add_argument("--min-examples", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results"
                    / "missed_eval.json")
    ap.add_argument("--markdown", type=Path, help="write the README tables of --out here "
                    "(with --tables-only, from an existing --out)")
    ap.add_argument("--tables-only", action="store_true",
                    help="only render the tables of an existing --out")
    args = ap.parse_args(argv)
    if args.tables_only:
        tables = markdown(json.loads(args.out.read_text(encoding="utf-8")))
        if args.markdown:
            args.markdown.write_text(tables, encoding="utf-8")
        print(tables)
        return 0
    options = TuneOptions(holdout_share=args.holdout_share, seed=0,
                          min_examples=args.min_examples)
    analyzers = scripted_calls.default_analyzers()
    model = base_act_model()
    out: dict[str, Any] = {"version": __version__, "per_language": args.per_language,
                           "seed": args.seed, "options": {
                               "holdout_share": options.holdout_share,
                               "min_examples": options.min_examples}}
    candidates: dict[str, dict[str, str]] = {v: {} for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for lang in labelled_calls.LANGS:
            t0 = time.perf_counter()
            calls, monitors = review_tune_half(lang, args.per_language, args.seed, analyzers,
                                               work)
            monitors["score_and_review_s"] = round(time.perf_counter() - t0, 1)
            out[lang] = {"monitors": monitors}
            print(lang, "monitors:", json.dumps(monitors), flush=True)
            for variant in VARIANTS:
                tuned = tune_variant(lang, calls, variant, options, model)
                candidates[variant][lang] = tuned.pop("candidate_yaml")
                out[lang][variant] = tuned
                print(f"{lang} {variant}: {len(tuned['changes'])} changes, publishable "
                      f"{tuned['publishable']}, regressed {tuned['comparison']['regressed']}, "
                      f"improved {tuned['comparison']['improved']}", flush=True)
                for c in tuned["changes"]:
                    print(f"   {c['criterion_id']} {c['what']} {c['where']}: {c['before']} -> "
                          f"{c['after']} (tune {c['tune_before']} -> {c['tune_after']})")
        test: dict[str, Any] = {}
        for name, cands in (("current", {}), *((v, candidates[v]) for v in VARIANTS)):
            t0 = time.perf_counter()
            test[name] = score_test_half(rubric_dir_with(cands, work / f"rubrics_{name}"),
                                         analyzers)
            test[name]["seconds"] = round(time.perf_counter() - t0, 1)
            for kind in ("text", "audio"):
                print(f"test half, {kind}, {name}: {_short(test[name][kind]['all'])}",
                      flush=True)
        out["test_half"] = test
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    tables = markdown(out)
    if args.markdown:
        args.markdown.write_text(tables, encoding="utf-8")
    print(tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
