"""CPU cost of tagging the clauses of long utterances, per call, on transcribed calls.

    .venv/bin/python benchmarks/clause_cost.py --audio-dir benchmarks/tmp/labelled5_tune

For every transcribed call of ``--audio-dir`` (a folder ``labelled_eval.py --audio-dir`` reads),
the utterances are embedded once (as scoring does: that pass is shared with sentiment and call
reason, so it is not counted), then the call is tagged with the packaged act model with
clauses and without (sentences only, as before clause tagging), ``--repeat`` times each, with
the embedder's text cache emptied before each (cold: the upper bound). Reported: texts tagged
beside the utterances, and CPU seconds (process time) per call of each way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "benchmarks"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import labelled_eval  # noqa: E402

from qa_pipeline.acts import load_embedded_act_model  # noqa: E402
from qa_pipeline.acts.track import TagOptions, parts_to_tag, tag_conversation  # noqa: E402
from qa_pipeline.rubric.embeddings import CallEmbeddings, default_embedder  # noqa: E402


def measure(audio_dir: Path, repeat: int) -> dict[str, Any]:
    """Per-call CPU seconds of act tagging with and without clauses."""
    items = labelled_eval.load_transcribed(audio_dir)
    model = load_embedded_act_model()
    embedder = default_embedder()
    ways = {"sentences": TagOptions(split_clauses=False), "clauses": TagOptions()}
    cpu = {w: 0.0 for w in ways}
    parts = {w: 0 for w in ways}
    utterances = 0
    for _, conv in items:
        emb = CallEmbeddings([u.text for u in conv.utterances], lambda: embedder)
        _ = emb.vectors  # the shared pass, paid by scoring anyway
        utterances += len(conv.utterances)
        for way, opts in ways.items():
            parts[way] += sum(len(parts_to_tag(u, opts)) for u in conv.utterances)
            for _ in range(repeat):
                # Cold: the embedder's per-process text cache would answer repeats (and the
                # labelled calls repeat phrasings across calls), which would hide the cost.
                cache = getattr(embedder, "_cache", None)
                if cache is not None:
                    cache.clear()
                t0 = time.process_time()
                tag_conversation(conv, model, emb, opts)
                cpu[way] += (time.process_time() - t0) / repeat
    n = len(items)
    return {"calls": n, "utterances": utterances, "repeat": repeat,
            "texts_tagged_beside_utterances": parts,
            "cpu_s_per_call": {w: round(cpu[w] / n, 4) for w in ways},
            "extra_cpu_s_per_call": round((cpu["clauses"] - cpu["sentences"]) / n, 4)}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--audio-dir", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, help="write the JSON result here")
    args = ap.parse_args(argv)
    result = measure(args.audio_dir, args.repeat)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
