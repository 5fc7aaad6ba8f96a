"""``qa-pipeline rubric tune`` end to end with the packaged act model, on scripted calls whose
labels play the QA monitors' verdicts.

    python benchmarks/rubric_tune_eval.py benchmarks/tune_calls/calls_en.jsonl \
        --criterion unauthorized_promise --min-probability 0.05 --holdout-share 0.5 \
        --out benchmarks/results/rubric_tune_en.json

A copy of the default rubric of the calls' language, with one criterion's act threshold
deliberately mis-set (``--min-probability`` on its first act operand), is the tenant
``demo``'s rubric in a temporary config directory. Every call is scored with it
(:func:`qa_pipeline.pipeline.score_conversation`, the default tenant's analyzers) into a
temporary store, and reviewed on the review desk: each labelled criterion gets its label as
the monitor's verdict, every other item is confirmed. Then the tenant's rubric is tuned and
compared on the held-out calls exactly as the command does (:func:`tune_tenant`), and
published when nothing regresses. Use only calls that may be tuned on
(``benchmarks/tune_calls``, and held-out sets only once they are spent).

With ``--as-is`` and several call files, the default rubric is tuned as it is, as a site
would after a few weeks of reviews: the labels of the calls are the monitors' verdicts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.scripted_calls import default_analyzers, load_calls, to_conversation  # noqa: E402
from qa_pipeline.pipeline import rubric_for, score_conversation  # noqa: E402
from qa_pipeline.review import RubricCatalog  # noqa: E402
from qa_pipeline.review.desk import ReviewDesk  # noqa: E402
from qa_pipeline.review.tuning import tune_tenant  # noqa: E402
from qa_pipeline.rubric.tune import TuneOptions, act_sites, with_min_probability  # noqa: E402
from qa_pipeline.settings import configure, rubric_dirs  # noqa: E402
from qa_pipeline.store import Store  # noqa: E402
from qa_pipeline.tenants import load_tenant  # noqa: E402


def mis_set(rubric_path: Path, criterion_id: str, value: float, target: Path) -> float | None:
    """Write the rubric with the criterion's first act operand at ``value``; returns the old
    ``min_probability`` (None: the model's thresholds).
    """
    data = yaml.safe_load(rubric_path.read_text(encoding="utf-8"))
    for section in data["sections"]:
        for c in section["criteria"]:
            if c["id"] == criterion_id:
                site = act_sites(c["rule"])[0]
                c["rule"] = with_min_probability(c["rule"], site.path, value)
                target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                                  encoding="utf-8")
                return site.min_probability
    raise SystemExit(f"{rubric_path} has no criterion {criterion_id!r}")


def run(calls_paths: list[Path], criterion: str | None, value: float, options: TuneOptions,
        workdir: Path) -> dict[str, Any]:
    """Score, review, tune; the tuning report plus timings. With ``criterion`` None the
    default rubric is used as it is.
    """
    calls = load_calls(calls_paths)
    lang = calls[0].lang
    if any(c.lang != lang for c in calls):
        raise SystemExit("all calls must be in one language")
    config = workdir / "config"
    (config / "rubrics").mkdir(parents=True)
    (config / "tenants").mkdir()
    source = REPO / "rubrics" / f"customer_service_{lang}.yaml"
    target = config / "rubrics" / f"customer_service_{lang}.yaml"
    original = None
    if criterion is None:
        target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        original = mis_set(source, criterion, value, target)
    (config / "tenants" / "demo.yaml").write_text(
        f"id: demo\nlanguages: [{lang}]\nrubrics:\n"
        f"  {lang}: rubrics/customer_service_{lang}.yaml\n", encoding="utf-8")
    configure(config_dir=config)
    store = Store(f"sqlite:///{workdir / 'qa.db'}")
    store.register_tenant("demo")
    tenant = store.tenant("demo")
    cfg = load_tenant("demo")
    analyzers = default_analyzers()
    desk = ReviewDesk(tenant, RubricCatalog(rubric_dirs()))
    t0 = time.perf_counter()
    for call in calls:
        conv = to_conversation(call, "demo")
        tenant.save_conversation(conv, frontend_key="scripted", meta={
            "agent_id": "agent", "started_at": "2026-11-02T09:00:00+08:00"})
        scored = score_conversation(conv, rubric_for(cfg, lang), analyzers=analyzers)
        sid = tenant.save_scorecard(scored)
        card = scored.to_dict()
        for item in card["items"]:
            label = call.expected.get(item["criterion_id"])
            if label is None and item["status"] == "needs_review" and item["kind"] != "flag":
                label = item["provisional_status"]  # nothing to say: the rules' verdict
            if label is not None:
                desk.review_item(sid, item["criterion_id"], label, reviewer="monitor",
                                 comment="label of the scripted call")
        desk.confirm_remaining(sid, reviewer="monitor")
    scored_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    outcome = tune_tenant(tenant, f"customer_service_{lang}", options)
    tune_s = time.perf_counter() - t0
    store.close()
    return {"calls": [str(p.relative_to(REPO)) for p in calls_paths],
            "criterion": criterion,
            "mis_set_min_probability": None if criterion is None else value,
            "default_min_probability": original,
            "score_and_review_s": round(scored_s, 1), "tune_s": round(tune_s, 1),
            "report": outcome.report}


def main() -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("calls", type=Path, nargs="+")
    ap.add_argument("--criterion", default="unauthorized_promise")
    ap.add_argument("--as-is", action="store_true",
                    help="tune the default rubric as it is (no criterion mis-set)")
    ap.add_argument("--min-probability", type=float, default=0.05)
    ap.add_argument("--holdout-share", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-examples", type=int, default=5)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    options = TuneOptions(holdout_share=args.holdout_share, seed=args.seed,
                          min_examples=args.min_examples)
    with tempfile.TemporaryDirectory() as tmp:
        result = run([p.resolve() for p in args.calls],
                     None if args.as_is else args.criterion, args.min_probability, options,
                     Path(tmp))
    for key in ("published_path",):
        result["report"]["decision"].pop(key, None)  # a temporary path
    text = json.dumps(result, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    rows = result["report"]["comparison"]["rows"]
    print(f"scored + reviewed {result['score_and_review_s']} s, tuned {result['tune_s']} s")
    for c in result["report"]["changes"]:
        print(f"changed {c['criterion_id']} {c['what']} {c['where']}: {c['before']} -> "
              f"{c['after']} (tune agreement {c['tune_before']} -> {c['tune_after']})")
    for r in rows:
        print(f"{r['criterion_id']:24s} n={r['n']:2d} {r['current']['agreement']:.3f} -> "
              f"{r['candidate']['agreement']:.3f} {r['change']}")
    print(result["report"]["decision"])


if __name__ == "__main__":
    main()
