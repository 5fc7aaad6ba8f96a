"""The abuse criterion (``abusive_language``) of two rubric versions side by side: scripted call
sets and real customer-service dialogues.

    python benchmarks/abuse_eval.py --before-ref HEAD~1 [--sets abuse_dev heldout2 ...] \
        [--out JSON]

For every scripted set (``benchmarks/<set>/calls_{zh,en}.jsonl``) both versions are scored
with :mod:`scripted_calls` (the provisional verdict counts, as there) and, beside its
figures, the number of calls whose abuse verdict goes to human review. The rubrics "before"
are read from git (``--before-ref``), "after" from ``rubrics/``.

Real text: every dialogue of MobileCS (``example.json``), the MUSIED phone documents of
``dev.json`` that ``acts_real_rates.py`` reads (4-40), ABCD (``abcd_sample.json``) and the
Harper Valley excerpt under ``../shared/eval``, each turned into a call (one utterance per
turn, as scripted calls are), is scored with both versions. Nobody labelled these for abuse;
real agents almost never abuse callers, so the calls that fail (or go to review) are an upper
bound on false alarms. Beside the verdicts, the act bands the criterion reads are counted on
the same utterances (the agent's ``insult``, the caller's ``tone_protest``). Only counts and
call ids are written (the corpora's licences do not allow copying the text).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import heldout_eval  # noqa: E402
import scripted_calls as sc  # noqa: E402

from qa_pipeline.pipeline import CallAnalyzers, score_conversation  # noqa: E402
from qa_pipeline.rubric.loader import load_rubric  # noqa: E402
from qa_pipeline.rubric.schema import Rubric  # noqa: E402

CRITERION = "abusive_language"
DEFAULT_SETS = ("abuse_dev", "heldout2", "heldout", "tune_calls")


def rubrics_at(ref: str, into: Path) -> Path:
    """Write the default rubrics of git revision ``ref`` into ``into``; return it."""
    for lang in sc.LANGS:
        name = f"rubrics/customer_service_{lang}.yaml"
        text = subprocess.run(["git", "show", f"{ref}:{name}"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout
        (into / f"customer_service_{lang}.yaml").write_text(text, encoding="utf-8")
    return into


def real_calls(eval_dir: Path) -> list[sc.ScriptedCall]:
    """The real dialogues as unlabelled scripted calls (one utterance per turn)."""
    calls: list[sc.ScriptedCall] = []

    def add(cid: str, lang: str, turns: list[tuple[str, str]]) -> None:
        turns = [(r, t.strip()) for r, t in turns if t and t.strip()]
        if any(r == "agent" for r, _ in turns):
            calls.append(sc.ScriptedCall(cid, lang, "real", "stereo",
                                         tuple(sc.ScriptedTurn(r, t) for r, t in turns),
                                         {CRITERION: "pass"}))

    zh = eval_dir / "text_callcenter_zh"
    for d in json.loads((zh / "mobilecs" / "example.json").read_text(encoding="utf-8")):
        turns = []
        for turn in d["content"]:
            for speaker, role in (("1", "agent"), ("2", "customer")):
                turns.append((role, str(turn.get(f"[SPEAKER {speaker}]", ""))))
        add(f"mobilecs#{d['id']}", "zh", turns)
    docs = json.loads((zh / "musied" / "dev.json").read_text(encoding="utf-8"))
    phone = [d for d in docs if d["content"]
             and str(d["content"][0]).partition(":")[0] in heldout_eval._MUSIED_ROLES]
    for d in phone[3:40]:
        turns = []
        for line in d["content"]:
            prefix, _, text = str(line).partition(":")
            if prefix in heldout_eval._MUSIED_ROLES:
                turns.append((heldout_eval._MUSIED_ROLES[prefix], text.rstrip(",")))
        add(f"musied#{d['id']}", "zh", turns)
    en = eval_dir / "text_callcenter_en"
    for c in json.loads((en / "abcd" / "abcd_sample.json").read_text(encoding="utf-8")):
        add(f"abcd#{c['convo_id']}", "en",
            [(str(r), str(t)) for r, t in c["original"] if r in ("agent", "customer")])
    for seg in sorted((en / "harper_valley_excerpt").glob("*.segments.tsv")):
        rows = [line.split("\t") for line in seg.read_text(encoding="utf-8").splitlines()[1:]]
        add(f"harper#{seg.name.split('.')[0]}", "en",
            [(heldout_eval._HARPER_ROLES[r[1]], r[5]) for r in rows if len(r) > 5])
    return calls


def abuse_statuses(calls: Sequence[sc.ScriptedCall], rubric_dir: Path, analyzers: CallAnalyzers
                   ) -> dict[str, tuple[str, str]]:
    """Call id -> (final status, provisional status) of the abuse criterion."""
    rubrics: dict[str, Rubric] = {}
    out = {}
    for call in calls:
        if call.lang not in rubrics:
            rubrics[call.lang] = load_rubric(rubric_dir / f"customer_service_{call.lang}.yaml")
        card = score_conversation(sc.to_conversation(call), rubrics[call.lang],
                                  call_meta={"call_id": call.id}, analyzers=analyzers)
        (r,) = [i.result for i in card.items if i.result.criterion_id == CRITERION]
        out[call.id] = (r.status.value, r.provisional_status.value)
    return out


def score_set(name: str, rubric_dir: Path, analyzers: CallAnalyzers) -> dict[str, Any]:
    """Scripted-call figures of one set plus the abuse verdicts sent to review."""
    calls = sc.load_calls([REPO / "benchmarks" / name / f"calls_{lang}.jsonl"
                           for lang in sc.LANGS])
    summary = sc.evaluate(calls, rubric_dir, analyzers)
    statuses = abuse_statuses(calls, rubric_dir, analyzers)
    labels = {c.id: c.expected.get(CRITERION) for c in calls}
    review = sorted(cid for cid, (final, _) in statuses.items() if final == "needs_review")
    return {
        "all": {k: summary["all"][k] for k in ("calls", "fatal_recall", "fatal_precision",
                                                "non_fatal_f1", "per_call_fatal_agreement")},
        "stereo": {k: summary["stereo"][k] for k in ("fatal_recall", "fatal_precision",
                                                     "per_call_fatal_agreement")},
        CRITERION: summary["all"]["criteria"].get(CRITERION),
        "abuse_misses": sorted(cid for cid, (_, p) in statuses.items()
                               if labels[cid] == "fail" and p != "fail"),
        "abuse_false_alarms": sorted(cid for cid, (_, p) in statuses.items()
                                     if labels[cid] == "pass" and p == "fail"),
        "abuse_review": review,
        "abuse_review_labelled_fail": [c for c in review if labels[c] == "fail"],
    }


def score_real(rubric_dir: Path, eval_dir: Path, analyzers: CallAnalyzers) -> dict[str, Any]:
    """Abuse failures and reviews on the real dialogues."""
    calls = real_calls(eval_dir)
    statuses = abuse_statuses(calls, rubric_dir, analyzers)
    by_lang: dict[str, Any] = {}
    for lang in sc.LANGS:
        ids = [c.id for c in calls if c.lang == lang]
        by_lang[lang] = {
            "calls": len(ids),
            "agent_utterances": sum(1 for c in calls if c.lang == lang
                                    for t in c.turns if t.role == "agent"),
            "fail": sorted(i for i in ids if statuses[i][1] == "fail"),
            "needs_review": sorted(i for i in ids if statuses[i][0] == "needs_review"),
        }
    return by_lang


def real_act_rates(rubric_dir: Path, eval_dir: Path) -> dict[str, Any]:
    """Per language, how many real utterances the rubric's act model (with its own acts) puts
    in the bands the abuse criterion reads: the caller's ``tone_protest`` (when the rubric
    defines it) and the agent's ``insult``. Whole utterances, counts only.
    """
    import numpy as np

    from qa_pipeline.acts import load_embedded_act_model

    calls = real_calls(eval_dir)
    out: dict[str, Any] = {}
    for lang in sc.LANGS:
        model = load_rubric(rubric_dir / f"customer_service_{lang}.yaml").act_model(
            load_embedded_act_model())
        turns = [t for c in calls if c.lang == lang for t in c.turns]
        roles = np.array([t.role for t in turns])
        probs = model.predict_texts([t.text for t in turns], list(roles))
        agent, customer = roles == "agent", roles == "customer"
        insult = probs[agent, model.acts.index("insult")]
        row: dict[str, int] = {
            "agent_utterances": int(agent.sum()),
            "agent_insult_ge_0_5": int((insult >= 0.5).sum()),
            "agent_insult_0_3_to_0_5": int(((insult >= 0.3) & (insult < 0.5)).sum()),
            "agent_insult_ge_0_1": int((insult >= 0.1).sum()),
            "customer_utterances": int(customer.sum())}
        if "tone_protest" in model.acts:
            protest = probs[customer, model.acts.index("tone_protest")]
            row["customer_tone_protest_ge_0_65"] = int((protest >= 0.65).sum())
            row["customer_tone_protest_ge_0_35"] = int((protest >= 0.35).sum())
        out[lang] = row
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before-ref", required=True, help="git revision of the rubrics before")
    ap.add_argument("--sets", nargs="*", default=list(DEFAULT_SETS))
    ap.add_argument("--eval-dir", type=Path, default=heldout_eval.default_eval_dir())
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    # The default tenant's analyzers, as `qa-pipeline score` and scripted_calls.py use them
    # (with sentiment the call is tagged before the rubric's time budget starts).
    analyzers = sc.default_analyzers()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"before": rubrics_at(args.before_ref, Path(tmp)), "after": REPO / "rubrics"}
        result: dict[str, Any] = {
            "date": dt.date.today().isoformat(), "before_ref": args.before_ref,
            "rubrics": {k: [load_rubric(d / f"customer_service_{lang}.yaml").ref
                            for lang in sc.LANGS] for k, d in dirs.items()},
            "sets": {}, "real": {}}
        for name in args.sets:
            result["sets"][name] = {k: score_set(name, d, analyzers) for k, d in dirs.items()}
            for k in dirs:
                r = result["sets"][name][k]
                print(f"{name:10s} {k:6s} fatal R/P {r['all']['fatal_recall']:.3f}/"
                      f"{r['all']['fatal_precision']:.3f} agreement "
                      f"{r['all']['per_call_fatal_agreement']:.3f} abuse "
                      f"{r[CRITERION]['tp']}/{r[CRITERION]['tp'] + r[CRITERION]['fn']} found, "
                      f"{r[CRITERION]['fp']} false, {len(r['abuse_review'])} to review",
                      flush=True)
        if args.eval_dir.is_dir():
            result["real"] = {k: score_real(d, args.eval_dir, analyzers)
                              for k, d in dirs.items()}
            result["real_act_rates"] = real_act_rates(dirs["after"], args.eval_dir)
            print("real act rates", result["real_act_rates"], flush=True)
            for k, v in result["real"].items():
                print("real", k, {lang: (x["calls"], len(x["fail"]), len(x["needs_review"]))
                                  for lang, x in v.items()}, flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n",
                            encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
