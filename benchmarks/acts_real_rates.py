"""How often the act model tags acts on real Mandarin call-center utterances nobody labelled.

    python benchmarks/acts_real_rates.py [--weights PATH] [--out JSON]

Reads MobileCS (all dialogues of ``example.json``) and MUSIED (the phone-conversation documents
4-40 of ``dev.json``) from ``../shared/eval`` at run time, leaves out every utterance that
``benchmarks/heldout/real_labels.tsv`` references (those are scored with their labels by
``heldout_eval.py``), and reports per act how many utterances the model tags (at its own
threshold and at P >= 0.5), by role. Most real customer-service lines carry no insult and no
threat, so those rates are an upper bound on the false-positive rate. The text is never written
anywhere: the corpora's licences do not allow redistribution. A diagnostic, not a score.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

import heldout_eval  # noqa: E402

from qa_pipeline.acts import load_act_model  # noqa: E402
from qa_pipeline.acts.model import WEIGHTS_PATH  # noqa: E402

MUSIED_DOCS = slice(3, 40)  # phone-conversation documents; the first three are labelled


def unreferenced_utterances(eval_dir: Path) -> list[tuple[str, str]]:
    """(role, text) of the MobileCS and MUSIED utterances real_labels.tsv does not reference."""
    with (heldout_eval.HELDOUT / "real_labels.tsv").open(encoding="utf-8", newline="") as f:
        refs = {row["ref"] for row in csv.DictReader(f, delimiter="\t")}
    out: list[tuple[str, str]] = []
    base = eval_dir / "text_callcenter_zh"
    for dialog in json.loads((base / "mobilecs" / "example.json").read_text(encoding="utf-8")):
        for turn_no, turn in enumerate(dialog["content"]):
            for speaker, role in (("1", "agent"), ("2", "customer")):
                text = str(turn.get(f"[SPEAKER {speaker}]", "")).strip()
                if text and f"example.json#{dialog['id']}#{turn_no}#{speaker}" not in refs:
                    out.append((role, text))
    docs = json.loads((base / "musied" / "dev.json").read_text(encoding="utf-8"))
    phone = [d for d in docs if d["content"]
             and str(d["content"][0]).partition(":")[0] in heldout_eval._MUSIED_ROLES]
    for doc in phone[MUSIED_DOCS]:
        for n, line in enumerate(doc["content"]):
            prefix, _, text = str(line).partition(":")
            text = text.rstrip(",").strip()
            if prefix in heldout_eval._MUSIED_ROLES and text \
                    and f"dev.json#{doc['id']}#{n}" not in refs:
                out.append((heldout_eval._MUSIED_ROLES[prefix], text))
    return out


def rates(weights: Path, eval_dir: Path) -> dict[str, Any]:
    """Per act and role: utterances tagged at the act's threshold and at P >= 0.5."""
    model = load_act_model(weights)
    items = unreferenced_utterances(eval_dir)
    roles = np.array([r for r, _ in items])
    probs = model.predict_texts([t for _, t in items], list(roles))
    thresholds = np.array([model.threshold(a) for a in model.acts])
    tagged = probs >= thresholds
    per_act = {}
    for j, act in enumerate(model.acts):
        per_act[act] = {role: {"tagged": int(tagged[roles == role, j].sum()),
                               "p_ge_0_5": int((probs[roles == role, j] >= 0.5).sum())}
                        for role in ("agent", "customer")}
    return {"model_id": model.model_id,
            "utterances": {role: int((roles == role).sum()) for role in ("agent", "customer")},
            "no_act_share": round(float(np.mean(~tagged.any(axis=1))), 4),
            "per_act": per_act}


def main(argv: list[str] | None = None) -> int:
    """Print the rates; write them as JSON with ``--out``."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--weights", type=Path, default=WEIGHTS_PATH)
    ap.add_argument("--eval-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    result = {"date": dt.date.today().isoformat(),
              **rates(args.weights, args.eval_dir or heldout_eval.default_eval_dir())}
    n = sum(result["utterances"].values())
    print(f"{result['model_id']}: {n} unreferenced real zh utterances {result['utterances']}, "
          f"no act {result['no_act_share']:.1%}")
    for act, by_role in result["per_act"].items():
        print(f"  {act:22s} " + "  ".join(
            f"{role} {v['tagged']:3d} (P>=0.5: {v['p_ge_0_5']:3d})" for role, v in by_role.items()))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
