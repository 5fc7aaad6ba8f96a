"""Sentiment, call reason and the cost of the analysis stages, in one run.

    .venv/bin/python benchmarks/analysis_eval.py [--eval ../shared/eval] [--quick]

1. Text sentiment (embedded default): macro-F1 over negative / neutral / positive per language
   on the held-out customer-service sentences (qa_pipeline/sentiment/corpus/*_test.txt, never
   used in training), and agreement with the Harper Valley emotion labels (silver: the argmax
   of the dataset's own emotion probabilities, human transcripts).
2. Call reason (default taxonomy): MobileCS calls (users' first help intent mapped onto the
   taxonomy) and MUSIED phone conversations (all are food-safety complaints: complaint recall).
3. Cost: on the six SpokenWOZ calls (mono), the front end (diarization + ASR) and the analysis
   stages (metrics, acoustics, sentiment, emotion, call reason) timed on the same files in
   this process; overhead = analysis seconds / front-end seconds.

Writes benchmarks/results/analysis_eval.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qa_pipeline.bench import metrics  # noqa: E402
from qa_pipeline.call_reason import CallReasonClassifier, load_taxonomy  # noqa: E402
from qa_pipeline.conversation.metrics import compute_metrics  # noqa: E402
from qa_pipeline.emotion import extract_acoustics, summarize_emotion  # noqa: E402
from qa_pipeline.frontend import FrontEnd  # noqa: E402
from qa_pipeline.sentiment import LABELS, get_sentiment_scorer  # noqa: E402
from qa_pipeline.sentiment.embedded import EmbeddingHeadClassifier  # noqa: E402
from qa_pipeline.sentiment.train import CORPUS, read_split  # noqa: E402
from qa_pipeline.tenants import TenantConfig  # noqa: E402
from qa_pipeline.types import Conversation, Provenance, Role, Utterance  # noqa: E402

SPOKENWOZ = ["MUL1423", "SNG0072", "SNG0480", "SNG0696", "SNG1263", "SNG1640"]
# MobileCS user intents (first help intent of the call) -> default taxonomy.
MOBILECS_MAP = {"求助-查询": "lookup", "求助-故障": "complaint", "取消": "request",
                "询问": "inquiry"}


def macro_f1(gold: list[str], pred: list[str]) -> tuple[float, dict[str, float]]:
    return metrics.macro_f1(gold, pred, LABELS)


def text_conversation(rows: list[tuple[str, str]], call_id: str, language: str) -> Conversation:
    utts = tuple(Utterance(i, role, Role(role), 1.0, 2.0 * i, 2.0 * i + 1.8, text, language, ())
                 for i, (role, text) in enumerate(rows))
    prov = Provenance("text", "-", "-", "-", "-", "reference")
    return Conversation(call_id, "eval", 2.0 * len(rows), language, utts, prov)


def eval_sentiment(ev: Path) -> dict:
    clf = EmbeddingHeadClassifier()
    out: dict = {"model_id": clf.model_id}
    for lang in ("en", "zh"):
        texts, gold = read_split(CORPUS / f"{lang}_test.txt")
        pred = [LABELS[int(i)] for i in np.argmax(clf.predict_proba(texts), axis=1)]
        f1, per = macro_f1(gold, pred)
        out[f"heldout_{lang}"] = {"n": len(gold), "macro_f1": round(f1, 4),
                                  "per_class_f1": {k: round(v, 4) for k, v in per.items()}}
    texts, gold = [], []
    for seg in sorted((ev / "text_callcenter_en" / "harper_valley_excerpt").glob("*.tsv")):
        for line in seg.read_text(encoding="utf-8").splitlines()[1:]:
            cols = line.split("\t")
            text, probs = cols[5], json.loads(cols[7])
            if text.startswith("[") or max(probs) >= 0.999:
                continue  # [noise] rows carry no emotion estimate
            texts.append(text)
            gold.append(LABELS[int(np.argmax(probs))])
    pred = [LABELS[int(i)] for i in np.argmax(clf.predict_proba(texts), axis=1)]
    f1, per = macro_f1(gold, pred)
    out["harper_valley_silver_en"] = {
        "n": len(gold), "accuracy": round(float(np.mean([g == p for g, p in
                                                          zip(gold, pred, strict=True)])), 4),
        "macro_f1": round(f1, 4), "gold_distribution": {k: gold.count(k) for k in LABELS}}
    return out


def eval_call_reason(ev: Path) -> dict:
    clf = CallReasonClassifier(load_taxonomy(REPO / "rubrics/call_reasons/default.yaml"))
    mobile = json.loads((ev / "text_callcenter_zh/mobilecs/example.json").read_text("utf-8"))
    rows_out = []
    for call in mobile:
        gold = None
        for turn in call["content"]:
            for intent in str(turn.get("用户意图", "")).split(","):
                key = intent.split("（")[0].split("(")[0].strip()
                if gold is None and key in MOBILECS_MAP:
                    gold = MOBILECS_MAP[key]
        rows = []
        for turn in call["content"]:
            for spk, role in (("[SPEAKER 1]", "agent"), ("[SPEAKER 2]", "customer")):
                if turn.get(spk):
                    rows.append((role, turn[spk]))
        pred = clf.classify(text_conversation(rows, call["id"], "zh")).label
        rows_out.append({"call": call["id"][:8], "gold": gold, "pred": pred})
    scored = [r for r in rows_out if r["gold"]]
    musied = [d for d in json.loads((ev / "text_callcenter_zh/musied/dev.json").read_text(
        "utf-8")) if d["domain"] == "Phone Conversations"]
    labels = []
    for doc in musied:
        rows = [("agent" if s.startswith("客服") else "customer", s.split(":", 1)[-1].strip(","))
                for s in doc["content"]]
        labels.append(clf.classify(text_conversation(rows, str(doc["id"]), "zh")).label)
    return {
        "taxonomy": clf.taxonomy.ref,
        "mobilecs": {"n": len(scored), "accuracy": round(
            sum(r["gold"] == r["pred"] for r in scored) / max(len(scored), 1), 4),
            "calls": rows_out},
        "musied_phone": {"n": len(labels),
                         "complaint_recall": round(labels.count("complaint") / len(labels), 4),
                         "predicted": {k: labels.count(k) for k in sorted(set(labels))}},
    }


def eval_cost(ev: Path, quick: bool) -> dict:
    tenant = TenantConfig(id="spokenwoz", languages=("en",), channel_layout="mono")
    fe = FrontEnd.for_tenant(tenant)
    scorer = get_sentiment_scorer()
    assert scorer is not None
    reasons = CallReasonClassifier(load_taxonomy(REPO / "rubrics/call_reasons/default.yaml"))
    calls = SPOKENWOZ[:2] if quick else SPOKENWOZ
    warm = fe.load(ev / "spokenwoz_jmoshi" / "derived" / f"{calls[0]}.mono8k.wav")
    warm_conv = fe.transcribe(warm).conversation  # loads and warms every model once
    extract_acoustics(warm, warm_conv)
    reasons.classify(warm_conv)
    rows = []
    for name in calls:
        audio = fe.load(ev / "spokenwoz_jmoshi" / "derived" / f"{name}.mono8k.wav")
        t0 = time.process_time()
        w0 = time.perf_counter()
        conv = fe.transcribe(audio).conversation
        front_cpu, front_wall = time.process_time() - t0, time.perf_counter() - w0
        stages = {}
        for stage, fn, args in (("metrics", compute_metrics, (conv,)),
                                ("acoustics", extract_acoustics, (audio, conv)),
                                ("sentiment", scorer.score, (conv,)),
                                ("call_reason", reasons.classify, (conv,))):
            t0 = time.process_time()
            stages[stage] = (fn(*args), time.process_time() - t0)
        t0 = time.process_time()
        summarize_emotion(conv, stages["sentiment"][0], stages["acoustics"][0])
        stage_cpu = {k: v[1] for k, v in stages.items()}
        stage_cpu["emotion"] = time.process_time() - t0
        analysis = sum(stage_cpu.values())
        rows.append({"call": name, "audio_s": round(audio.duration_s, 1),
                     "utterances": len(conv.utterances),
                     "front_end_cpu_s": round(front_cpu, 2),
                     "front_end_wall_s": round(front_wall, 2),
                     "analysis_cpu_s": {k: round(v, 3) for k, v in stage_cpu.items()},
                     "overhead_pct": round(100 * analysis / front_cpu, 2)})
    front = sum(r["front_end_cpu_s"] for r in rows)
    analysis = sum(sum(r["analysis_cpu_s"].values()) for r in rows)
    return {"calls": rows, "front_end_cpu_s": round(front, 2),
            "analysis_cpu_s": round(analysis, 2),
            "overhead_pct": round(100 * analysis / front, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--quick", action="store_true", help="two calls for the cost part")
    args = parser.parse_args()
    result = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.processor() or ''} python "
                   f"{platform.python_version()}".strip(),
        "sentiment": eval_sentiment(args.eval),
        "call_reason": eval_call_reason(args.eval),
        "cost": eval_cost(args.eval, args.quick),
    }
    out = REPO / "benchmarks" / "results" / "analysis_eval.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    s = result["sentiment"]
    print("| set | n | macro-F1 |\n|---|---|---|")
    for key in ("heldout_en", "heldout_zh", "harper_valley_silver_en"):
        print(f"| {key} | {s[key]['n']} | {s[key]['macro_f1']:.3f} |")
    c = result["call_reason"]
    print(f"\ncall reason: MobileCS accuracy {c['mobilecs']['accuracy']:.2f} "
          f"(n={c['mobilecs']['n']}), MUSIED complaint recall "
          f"{c['musied_phone']['complaint_recall']:.3f} (n={c['musied_phone']['n']})")
    print("\n| call | audio s | front end CPU s | analysis CPU s | overhead |")
    print("|---|---|---|---|---|")
    for r in result["cost"]["calls"]:
        print(f"| {r['call']} | {r['audio_s']} | {r['front_end_cpu_s']} | "
              f"{sum(r['analysis_cpu_s'].values()):.2f} | {r['overhead_pct']:.1f}% |")
    cost = result["cost"]
    print(f"| **all** | | {cost['front_end_cpu_s']} | {cost['analysis_cpu_s']} | "
          f"**{cost['overhead_pct']:.1f}%** |")


if __name__ == "__main__":
    main()
