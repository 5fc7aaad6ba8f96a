"""Score the act model and the default rubrics on the independent held-out set of issue 24.

    python benchmarks/heldout_eval.py                       # acts and calls
    python benchmarks/heldout_eval.py --part calls --out benchmarks/results/heldout_baseline.json
    python benchmarks/heldout_eval.py --part acts --eval-dir /work/shared/eval
    python benchmarks/heldout_eval.py --set benchmarks/heldout2   # the second held-out set

(a) ``acts``: per act and language precision / recall / F1 of
``qa_pipeline.acts.load_embedded_act_model()`` on ``benchmarks/heldout/acts_{zh,en}.tsv`` and
on the hand labels of real utterances in ``benchmarks/heldout/real_labels.tsv``. That file holds
references only (source, file#dialogue#turn); the text is read from ``../shared/eval`` at run
time, because the licences of those corpora do not allow copying it. A prediction is an act
whose calibrated probability reaches ``model.threshold(act)``. Without the module the script
says so and exits 2.

(b) ``calls``: ``benchmarks/scripted_calls.py`` on ``benchmarks/heldout/calls_{zh,en}.jsonl``
with the rubrics of ``--rubric-dir``, stereo and mono apart.

``--set DIR`` scores another held-out set written in the same layout (``acts_{zh,en}.tsv``,
``calls_{zh,en}.jsonl``, ``real_labels.tsv``), e.g. ``benchmarks/heldout2``; the default is
``benchmarks/heldout``.

Nothing may be tuned on these files (see benchmarks/heldout/README.md).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HELDOUT = REPO / "benchmarks" / "heldout"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))

import scripted_calls  # noqa: E402

from qa_pipeline.bench.metrics import BinaryCounts  # noqa: E402
from qa_pipeline.errors import ConfigError  # noqa: E402

# The 16 act ids of issue 24, in the interface's order (kept here so that the corpus can be
# checked without the act model).
ACT_IDS = (
    "greeting", "verification_request", "verification_confirmed", "account_disclosure",
    "hold_announcement", "hold_return", "apology_empathy", "complaint", "escalation_threat",
    "insult", "refusal_deflection", "promise", "next_step", "anything_else", "thanks_farewell",
    "recording_disclosure",
)
ROLES = ("agent", "customer")
# Where each real source lives under the eval folder.
SOURCE_DIRS = {
    "mobilecs": "text_callcenter_zh/mobilecs",
    "musied": "text_callcenter_zh/musied",
    "abcd": "text_callcenter_en/abcd",
    "harper_valley": "text_callcenter_en/harper_valley_excerpt",
}
_MUSIED_ROLES = {"客服": "agent", "用户": "customer"}
_HARPER_ROLES = {"agent": "agent", "caller": "customer"}


@dataclass(frozen=True)
class LabelledUtterance:
    """One utterance with its act labels."""

    lang: str
    role: str
    acts: tuple[str, ...]
    text: str
    source: str = ""
    ref: str = ""


def _acts(field: str, where: str) -> tuple[str, ...]:
    acts = tuple(a.strip() for a in field.split(",") if a.strip())
    bad = [a for a in acts if a not in ACT_IDS]
    if bad:
        raise ConfigError(f"{where}: unknown act(s) {bad}; valid: {', '.join(ACT_IDS)}")
    return acts


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            if tuple(reader.fieldnames or ()) != columns:
                raise ConfigError(f"{path}: header must be {columns}, is {reader.fieldnames}")
            return [(n, row) for n, row in enumerate(reader, start=2)]
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e})") from e


def load_act_corpus(path: Path) -> list[LabelledUtterance]:
    """``lang<TAB>role<TAB>acts<TAB>text`` lines (the acts interface's corpus format).

    Raises:
        ConfigError: a bad header, role, language or act id.
    """
    out = []
    for n, row in _rows(path, ("lang", "role", "acts", "text")):
        where = f"{path}:{n}"
        if row["role"] not in ROLES or row["lang"] not in ("zh", "en") or not row["text"]:
            raise ConfigError(f"{where}: bad role, lang or empty text")
        out.append(LabelledUtterance(row["lang"], row["role"], _acts(row["acts"], where),
                                     row["text"]))
    return out


class _Sources:
    """Reads the referenced utterances from the eval folder (each file parsed once)."""

    def __init__(self, eval_dir: Path) -> None:
        self.eval_dir = eval_dir
        self._cache: dict[tuple[str, str], Any] = {}

    def _load(self, source: str, name: str) -> Any:
        key = (source, name)
        if key not in self._cache:
            path = self.eval_dir / SOURCE_DIRS[source] / name
            try:
                if name.endswith(".json"):
                    self._cache[key] = json.loads(path.read_text(encoding="utf-8"))
                else:
                    with path.open(encoding="utf-8", newline="") as f:
                        self._cache[key] = list(csv.DictReader(f, delimiter="\t",
                                                               quoting=csv.QUOTE_NONE))
            except (OSError, ValueError) as e:
                raise ConfigError(f"{path}: cannot read ({e})") from e
        return self._cache[key]

    def text(self, source: str, ref: str) -> tuple[str, str]:
        """(role, text) of the utterance ``ref`` locates in ``source``.

        Raises:
            ConfigError: the reference does not resolve.
        """
        if source not in SOURCE_DIRS:
            raise ConfigError(f"unknown source {source!r}; valid: {', '.join(SOURCE_DIRS)}")
        parts = ref.split("#")
        try:
            data = self._load(source, parts[0])
            if source == "mobilecs":
                _, dialog_id, turn, speaker = parts
                dialog = next(d for d in data if d["id"] == dialog_id)
                text = dialog["content"][int(turn)][f"[SPEAKER {speaker}]"]
                return ("agent" if speaker == "1" else "customer"), str(text)
            if source == "musied":
                _, doc_id, sent = parts
                doc = next(d for d in data if str(d["id"]) == doc_id)
                line = str(doc["content"][int(sent)])
                prefix, _, text = line.partition(":")
                return _MUSIED_ROLES[prefix], text.rstrip(",").strip()
            if source == "abcd":
                _, convo_id, turn = parts
                convo = next(c for c in data if str(c["convo_id"]) == convo_id)
                role, text = convo["original"][int(turn)]
                return str(role), str(text)
            _, _, index = parts
            row = next(r for r in data if r["index"] == index)
            return _HARPER_ROLES[row["speaker_role"]], str(row["human_transcript"])
        except (ValueError, KeyError, IndexError, StopIteration) as e:
            raise ConfigError(f"{source} {ref}: reference does not resolve ({e!r})") from e


def default_eval_dir() -> Path:
    """``../shared/eval`` seen from the main checkout or from a worktree under ``wt/``."""
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "eval").is_dir():
            return base / "shared" / "eval"
    return REPO.parent / "shared" / "eval"


def load_real_labels(path: Path, eval_dir: Path) -> list[LabelledUtterance]:
    """The labelled real utterances, their text read from ``eval_dir``.

    Raises:
        ConfigError: a bad row, a reference that does not resolve, or a role that disagrees
            with the source.
    """
    sources = _Sources(eval_dir)
    out = []
    for n, row in _rows(path, ("source", "ref", "lang", "role", "acts")):
        where = f"{path}:{n}"
        role, text = sources.text(row["source"], row["ref"])
        if role != row["role"]:
            raise ConfigError(f"{where}: role {row['role']!r} but the source says {role!r}")
        out.append(LabelledUtterance(row["lang"], role, _acts(row["acts"], where), text,
                                     row["source"], row["ref"]))
    return out


def act_scores(items: Sequence[LabelledUtterance], predicted: Sequence[set[str]],
               acts: Sequence[str]) -> dict[str, Any]:
    """Per-act P/R/F1, micro and macro F1, and how many act-free lines stayed act-free."""
    per = {a: BinaryCounts() for a in acts}
    none_total = none_kept = exact = 0
    for item, pred in zip(items, predicted, strict=True):
        gold = set(item.acts)
        for a in acts:
            per[a] = per[a].add(a in gold, a in pred)
        exact += gold == (pred & set(acts))
        if not gold:
            none_total += 1
            none_kept += not (pred & set(acts))
    micro = sum(per.values(), BinaryCounts())
    present = [c for c in per.values() if c.tp + c.fn > 0]
    return {
        "utterances": len(items),
        "micro_f1": round(micro.f1, 4),
        "macro_f1": round(sum(c.f1 for c in present) / len(present), 4) if present else None,
        "exact_match": round(exact / len(items), 4) if items else None,
        "no_act_lines": none_total,
        "no_act_kept": round(none_kept / none_total, 4) if none_total else None,
        "acts": {a: {"support": c.tp + c.fn, "tp": c.tp, "fp": c.fp, "fn": c.fn,
                     "precision": round(c.precision, 4), "recall": round(c.recall, 4),
                     "f1": round(c.f1, 4)} for a, c in per.items()},
    }


def predict(model: Any, items: Sequence[LabelledUtterance]) -> list[set[str]]:
    """Acts whose calibrated probability reaches the model's threshold, per utterance."""
    if not items:
        return []
    probs = model.predict_texts([i.text for i in items], [i.role for i in items])
    acts = tuple(model.acts)
    thresholds = [model.threshold(a) for a in acts]
    return [{a for a, p, t in zip(acts, row, thresholds, strict=True) if p >= t}
            for row in probs]


def evaluate_acts(model: Any, eval_dir: Path, set_dir: Path = HELDOUT) -> dict[str, Any]:
    """Part (a): the written corpus and the real utterances, per language (and source).

    Args:
        model: an act model with the interface of ``qa_pipeline.acts``.
        eval_dir: the shared eval folder the real labels refer to.
        set_dir: the held-out set's folder.
    """
    acts = [a for a in ACT_IDS if a in tuple(model.acts)]
    out: dict[str, Any] = {"model_id": model.model_id, "written": {}, "real": {}}
    for lang in ("zh", "en"):
        items = load_act_corpus(set_dir / f"acts_{lang}.tsv")
        out["written"][lang] = act_scores(items, predict(model, items), acts)
    # A set may hold written material only (no hand labels of real utterances).
    labels = set_dir / "real_labels.tsv"
    real = load_real_labels(labels, eval_dir) if labels.is_file() else []
    preds = predict(model, real) if real else []
    for lang in ("zh", "en"):
        idx = [k for k, r in enumerate(real) if r.lang == lang]
        out["real"][lang] = act_scores([real[k] for k in idx], [preds[k] for k in idx], acts)
    for source in SOURCE_DIRS:
        idx = [k for k, r in enumerate(real) if r.source == source]
        out["real"][source] = act_scores([real[k] for k in idx], [preds[k] for k in idx], acts)
    return out


def evaluate_calls(rubric_dir: Path, sentiment: str | None,
                   set_dir: Path = HELDOUT) -> dict[str, Any]:
    """Part (b): the scripted calls of ``set_dir``, with stereo and mono reported apart."""
    calls = scripted_calls.load_calls([set_dir / "calls_zh.jsonl", set_dir / "calls_en.jsonl"])
    return scripted_calls.evaluate(calls, rubric_dir, scripted_calls.default_analyzers(sentiment))


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _set_name(set_dir: Path) -> str:
    """The set's folder relative to the repository when it lies inside it (for the JSON)."""
    try:
        return set_dir.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return str(set_dir)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Held-out evaluation of acts and rubric verdicts.")
    ap.add_argument("--part", choices=("all", "acts", "calls"), default="all")
    ap.add_argument("--eval-dir", type=Path, default=None,
                    help="the shared eval folder (default: ../shared/eval)")
    ap.add_argument("--rubric-dir", type=Path, default=REPO / "rubrics")
    ap.add_argument("--sentiment", default=None,
                    help="sentiment backend for the calls (default: the default tenant's)")
    ap.add_argument("--set", dest="set_dir", type=Path, default=HELDOUT,
                    help="the held-out set's folder (default: benchmarks/heldout)")
    ap.add_argument("--out", type=Path, help="write the JSON result here")
    ap.add_argument("--act-model", type=Path, default=None,
                    help="act weights (.npz) to score with instead of the packaged ones, e.g. the "
                         "embedding-only qa_pipeline/acts/weights/acts_e5small_head.npz")
    args = ap.parse_args(argv)
    from qa_pipeline.acts import use_act_model

    act_model_id = use_act_model(args.act_model)
    set_dir: Path = args.set_dir
    if not set_dir.is_dir():
        print(f"--set {set_dir}: not a folder", file=sys.stderr)
        return 2
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": _commit(),
        "set": _set_name(set_dir),
        "act_model": act_model_id,
    }
    if args.part in ("all", "acts"):
        try:
            acts_mod = importlib.import_module("qa_pipeline.acts")
        except ImportError as e:
            print(f"qa_pipeline.acts is not importable ({e}); the act model is not built yet. "
                  "Run with --part calls to score the scripted calls alone.", file=sys.stderr)
            return 2
        model = acts_mod.load_embedded_act_model()
        result["acts"] = evaluate_acts(model, args.eval_dir or default_eval_dir(), set_dir)
        for part in ("written", "real"):
            for lang in ("zh", "en"):
                s = result["acts"][part][lang]
                if not s["utterances"]:
                    print(f"acts {part:7s} {lang}: no labelled utterances in this set")
                    continue
                print(f"acts {part:7s} {lang}: micro F1 {s['micro_f1']:.3f}  macro F1 "
                      f"{s['macro_f1']:.3f}  no-act kept {s['no_act_kept']:.3f}  "
                      f"({s['utterances']} utterances)")
    if args.part in ("all", "calls"):
        result["calls"] = evaluate_calls(args.rubric_dir, args.sentiment, set_dir)
        for layout in ("stereo", "mono"):
            s = result["calls"][layout]
            print(f"calls {layout:6s}: {s['calls']} calls, fatal R/P {s['fatal_recall']:.3f}/"
                  f"{s['fatal_precision']:.3f}, non-fatal F1 {s['non_fatal_f1']:.3f}, "
                  f"per-call fatal agreement {s['per_call_fatal_agreement']:.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n",
                            encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
