"""Compare dialogue-act heads on wording of authors they never saw (issue 24).

Every candidate head is judged the way ``python -m qa_pipeline.acts.train`` judges the shipped
one: (a) leave one training author out (the author's lines scored by models, Platt calibrations
and F1-optimal thresholds fitted without that author; ``validation_by_author`` of the card),
and (b) fitted on every training author, calibrated and thresholded on the leave-one-author-out
scores, then scored on the two authors the shipped model never saw
(``benchmarks/act_authors_{d,e}``, never fitted on) and on the other scored sets (validation
split, its ASR-noised copy, the written act lines of the held-out sets). Candidates are
selected by (a) only; (b) is the out-of-author test.

Sentence vectors are computed once and kept in an ``.npz`` cache (``--embedding-cache``), so a
comparison run costs only the fitting.

    python benchmarks/acts_heads_compare.py --out benchmarks/results/acthead_compare.json
    python benchmarks/acts_heads_compare.py --only base,emb+lex_0.6 --score-cache /tmp/s.npz
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa_pipeline.acts.model import DEFAULT_THRESHOLD, fit_platt, role_features
from qa_pipeline.acts.taxonomy import ACTS, LANGUAGES, ActExample, read_act_corpus
from qa_pipeline.acts.train import (
    C_GRID,
    CORPUS,
    FileCachedEmbedder,
    _log_loss,
    choose_threshold,
    evaluate,
    label_matrix,
    read_training,
)
from qa_pipeline.rubric.embeddings import default_embedder

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
OUT_OF_AUTHOR = ("act_authors_d", "act_authors_e")
HELDOUT_SETS = ("heldout", "heldout2", "heldout3", "heldout5", "heldout6")
# Author groups whose leave-one-out figure selects a candidate: the hard negatives are a
# handful of positives per act, too few for a macro-F1 to choose on (they are still reported).
SELECTION_AUTHORS = ("project", "extra_a", "extra_b")


@dataclass(frozen=True)
class Rows:
    """Utterances of one set with everything a head reads."""

    emb: np.ndarray  # (n, 384) unit e5 vectors
    role: np.ndarray  # (n, 2) is_agent, is_customer
    texts: tuple[str, ...]
    langs: np.ndarray
    y: np.ndarray  # (n, acts) 0/1

    def take(self, idx: np.ndarray) -> Rows:
        return Rows(self.emb[idx], self.role[idx], tuple(self.texts[i] for i in idx),
                    self.langs[idx], self.y[idx])


def rows_of(examples: Sequence[ActExample], embed: Callable[[list[str]], np.ndarray]) -> Rows:
    return Rows(embed([ex.text for ex in examples]).astype(np.float64),
                role_features([ex.role for ex in examples], len(examples)).astype(np.float64),
                tuple(ex.text for ex in examples), np.array([ex.lang for ex in examples]),
                label_matrix(examples))


class Head:
    """A candidate: ``fit(train, groups)`` then ``scores(test)`` -> (n, acts) decision scores
    (any monotone score: they are Platt-calibrated afterwards, per act)."""

    name = "head"

    def fit(self, train: Rows, groups: np.ndarray, warm: Any = None) -> Any:
        """Fit on ``train``; ``warm``: this head fitted on a superset of the rows, a warm
        start where the head can use one."""
        raise NotImplementedError

    def scores(self, fitted: Any, rows: Rows) -> np.ndarray:
        raise NotImplementedError


def _embedding_features(rows: Rows, transform: Any = None) -> np.ndarray:
    emb = rows.emb if transform is None else transform(rows.emb)
    return np.hstack([emb, rows.role])


def fit_logistic(x: Any, y: np.ndarray, c: float, class_weight: str | None = None,
                 start: tuple[np.ndarray, np.ndarray] | None = None,
                 gtol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(d, k)`` and biases ``(k,)`` of one L2 logistic regression per column of
    ``y``, all in one L-BFGS run: the objective of scikit-learn's ``LogisticRegression(C=c)``
    summed over the columns (unpenalised intercepts), so the same minimiser, much faster.
    ``start``: a warm start (e.g. the fit on all rows when fitting a fold).
    """
    from scipy.optimize import minimize
    from scipy.sparse import issparse

    n, d = x.shape
    k = y.shape[1]
    yf = y.astype(np.float64)
    # Centring the columns is an exact change of variables (the intercept is not penalised)
    # and makes the problem far better conditioned: e5 vectors share a large common part.
    mean = np.zeros(d) if issparse(x) else np.asarray(x).mean(axis=0)
    if not issparse(x):
        x = x - mean
    sw = np.ones((n, k))
    if class_weight == "balanced":
        pos = np.maximum(yf.sum(axis=0), 1.0)
        sw = np.where(yf > 0, n / (2 * pos), n / (2 * np.maximum(n - pos, 1.0)))

    def loss(v: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = v[: d * k].reshape(d, k), v[d * k:]
        z = np.asarray(x @ w) + b
        nll = np.logaddexp(0.0, z) - yf * z
        r = sw * (0.5 * (1.0 + np.tanh(0.5 * z)) - yf)
        value = c * float(np.sum(sw * nll)) + 0.5 * float(np.sum(w * w))
        grad = np.r_[(c * np.asarray(x.T @ r) + w).ravel(), c * r.sum(axis=0)]
        return value / n, grad / n

    v0 = (np.r_[np.zeros(d * k), _logit_prior(yf)] if start is None
          else np.r_[start[0].ravel(), start[1] + mean @ start[0]])
    v = minimize(loss, v0, jac=True, method="L-BFGS-B",
                 options={"maxiter": 5000, "gtol": gtol}).x
    w = v[: d * k].reshape(d, k)
    return w, v[d * k:] - mean @ w


def _logit_prior(y: np.ndarray) -> np.ndarray:
    rate = np.clip(y.mean(axis=0), 1e-3, 1 - 1e-3)
    out: np.ndarray = np.log(rate / (1 - rate))
    return out


class LogisticHead(Head):
    """One-vs-rest logistic regression per act on [embedding (optionally transformed), role]
    with one inverse regularisation ``c``."""

    def __init__(self, name: str, c: float, class_weight: str | None = None,
                 prep: str = "none", per_language: bool = False) -> None:
        self.name, self.c, self.class_weight = name, c, class_weight
        self.prep, self.per_language = prep, per_language

    def _prep(self, train: Rows) -> Callable[[np.ndarray], np.ndarray] | None:
        if self.prep == "none":
            return None
        mean = train.emb.mean(axis=0)
        if self.prep == "standard":
            std = train.emb.std(axis=0) + 1e-6
            return lambda e: (e - mean) / std
        if self.prep == "whiten":
            cov = np.cov((train.emb - mean).T)
            vals, vecs = np.linalg.eigh(cov)
            w = vecs / np.sqrt(vals + 1e-3 * vals.max())
            return lambda e: (e - mean) @ w
        raise ValueError(self.prep)

    def fit(self, train: Rows, groups: np.ndarray, warm: Any = None) -> Any:
        transform = self._prep(train)
        x = _embedding_features(train, transform)
        start = warm[1] if warm is not None and self.prep == "none" else {}
        if not self.per_language:
            return transform, {None: fit_logistic(x, train.y, self.c, self.class_weight,
                                                  start.get(None))}
        return transform, {lang: fit_logistic(x[train.langs == lang],
                                              train.y[train.langs == lang], self.c,
                                              self.class_weight, start.get(lang))
                           for lang in LANGUAGES}

    def scores(self, fitted: Any, rows: Rows) -> np.ndarray:
        transform, by_lang = fitted
        x = _embedding_features(rows, transform)
        out = np.zeros((len(rows.texts), len(ACTS)))
        for lang, (w, b) in by_lang.items():
            mask = np.ones(len(x), bool) if lang is None else rows.langs == lang
            out[mask] = x[mask] @ w + b
        return out


class NystroemHead(Head):
    """RBF features (Nystroem) beside the embedding and role, logistic regression per act."""

    def __init__(self, name: str, gamma: float, components: int, c: float) -> None:
        self.name, self.gamma, self.components, self.c = name, gamma, components, c

    def fit(self, train: Rows, groups: np.ndarray, warm: Any = None) -> Any:
        from sklearn.kernel_approximation import Nystroem

        ny = Nystroem(gamma=self.gamma, n_components=self.components, random_state=0)
        x = np.hstack([ny.fit_transform(train.emb), train.emb, train.role])
        return ny, fit_logistic(x, train.y, self.c)

    def scores(self, fitted: Any, rows: Rows) -> np.ndarray:
        ny, (w, b) = fitted
        out: np.ndarray = np.hstack([ny.transform(rows.emb), rows.emb, rows.role]) @ w + b
        return out


class MLPHead(Head):
    """One multi-label MLP (sigmoid outputs) over [embedding, role]; a few seeds averaged."""

    def __init__(self, name: str, hidden: int, alpha: float, seeds: int = 2,
                 epochs: int = 60) -> None:
        self.name, self.hidden, self.alpha = name, hidden, alpha
        self.seeds, self.epochs = seeds, epochs

    @staticmethod
    def _x(rows: Rows) -> np.ndarray:
        # e5 components are small (unit vectors in 384 dimensions): scale them to unit variance
        # order so that the default initialisation and learning rate suit them.
        return np.hstack([rows.emb * 20.0, rows.role])

    def fit(self, train: Rows, groups: np.ndarray, warm: Any = None) -> Any:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return [MLPClassifier((self.hidden,), alpha=self.alpha, max_iter=self.epochs,
                                  random_state=s).fit(self._x(train), train.y)
                    for s in range(self.seeds)]

    def scores(self, fitted: Any, rows: Rows) -> np.ndarray:
        p = np.mean([m.predict_proba(self._x(rows)) for m in fitted], axis=0)
        p = np.clip(p, 1e-6, 1 - 1e-6)
        out: np.ndarray = np.log(p / (1 - p))
        return out


class LexicalHead(Head):
    """Character n-gram TF-IDF (Mandarin needs no word segmentation) + role, logistic
    regression per act."""

    def __init__(self, name: str, ngrams: tuple[int, int], c: float) -> None:
        self.name, self.ngrams, self.c = name, ngrams, c

    def _x(self, vec: Any, rows: Rows) -> Any:
        from scipy.sparse import csr_matrix, hstack

        return hstack([vec.transform(rows.texts), csr_matrix(rows.role)]).tocsr()

    def fit(self, train: Rows, groups: np.ndarray, warm: Any = None) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=self.ngrams, lowercase=True,
                              sublinear_tf=True, min_df=2)
        vec.fit(train.texts)
        return vec, fit_logistic(self._x(vec, train), train.y, self.c)

    def scores(self, fitted: Any, rows: Rows) -> np.ndarray:
        vec, (w, b) = fitted
        out: np.ndarray = np.asarray(self._x(vec, rows) @ w) + b
        return out


class SumHead(Head):
    """Weighted sum of member heads' decision scores (calibrated together afterwards)."""

    def __init__(self, name: str, members: Sequence[tuple[Head, float]]) -> None:
        self.name, self.members = name, tuple(members)

    def fit(self, train: Rows, groups: np.ndarray, warm: Any = None) -> Any:
        return [h.fit(train, groups, None if warm is None else w)
                for (h, _), w in zip(self.members, warm or [None] * len(self.members),
                                     strict=True)]

    def scores(self, fitted: Any, rows: Rows) -> np.ndarray:
        return np.sum([w * h.scores(f, rows) for (h, w), f in zip(self.members, fitted,
                                                                  strict=True)], axis=0)


def _platt_probs(s: np.ndarray, ab: tuple[float, float]) -> np.ndarray:
    out: np.ndarray = 1 / (1 + np.exp(-np.clip(ab[0] * s + ab[1], -50, 50)))
    return out


def head_scores(head: Head, train: Rows, groups: np.ndarray, tests: dict[str, Rows],
                cache: dict[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A head's leave-one-author-out scores of the training rows and its scores of every test
    set when fitted on all training rows (memoised by head name)."""
    if head.name in cache:
        return cache[head.name]  # type: ignore[no-any-return]
    if isinstance(head, SumHead):
        # A weighted sum of scores: the members' out-of-fold and test scores summed.
        parts = [(w, head_scores(h, train, groups, tests, cache)) for h, w in head.members]
        out = (np.sum([w * p[0] for w, p in parts], axis=0),
               {t: np.sum([w * p[1][t] for w, p in parts], axis=0) for t in tests})
        cache[head.name] = out
        return out
    full = head.fit(train, groups)
    oof = np.full(train.y.shape, np.nan)
    for g in sorted(set(groups.tolist())):
        test = np.flatnonzero(groups == g)
        fit_idx = np.flatnonzero(groups != g)
        fitted = head.fit(train.take(fit_idx), groups[fit_idx], warm=full)
        oof[test] = head.scores(fitted, train.take(test))
    out = oof, {name: head.scores(full, rows) for name, rows in tests.items()}
    cache[head.name] = out
    return out


def run_candidate(name: str, grid: Sequence[Head], train: Rows, groups: np.ndarray,
                  tests: dict[str, Rows], cache: dict[str, Any]) -> dict[str, Any]:
    """The training recipe of ``qa_pipeline.acts.train`` for any head: per act the grid member
    with the least out-of-fold log loss (after Platt scaling), a Platt calibration on its
    leave-one-author-out scores, the F1-optimal threshold; figures per left-out author and on
    every test set."""
    started = time.process_time()
    runs = [head_scores(h, train, groups, tests, cache) for h in grid]
    oof = np.zeros(train.y.shape)
    test_scores = {t: np.zeros((len(r.texts), len(ACTS))) for t, r in tests.items()}
    chosen = []
    for j in range(len(ACTS)):
        yj = train.y[:, j]
        losses = [_log_loss(_platt_probs(o[:, j], fit_platt(o[:, j], yj)), yj) for o, _ in runs]
        best = int(np.argmin(losses))
        chosen.append(grid[best].name)
        oof[:, j] = runs[best][0][:, j]
        for t in tests:
            test_scores[t][:, j] = runs[best][1][t][:, j]
    by_author: dict[str, Any] = {}
    for g in sorted(set(groups.tolist())):
        mine = groups == g
        probs = np.zeros(train.y.shape)
        thresholds = np.full(len(ACTS), DEFAULT_THRESHOLD)
        for j in range(len(ACTS)):
            other = ~mine
            if train.y[other, j].sum() == 0:
                continue
            probs[:, j] = _platt_probs(oof[:, j], fit_platt(oof[other, j], train.y[other, j]))
            thresholds[j] = choose_threshold(probs[other, j], train.y[other, j])[0]
        for lang in LANGUAGES:
            rows = mine & (train.langs == lang)
            by_author[f"{g}_{lang}"] = evaluate(probs[rows], train.y[rows], thresholds)
    platt = [fit_platt(oof[:, j], train.y[:, j]) for j in range(len(ACTS))]
    calibrated = np.stack([_platt_probs(oof[:, j], ab) for j, ab in enumerate(platt)], axis=1)
    thresholds = np.array([choose_threshold(calibrated[:, j], train.y[:, j])[0]
                           for j in range(len(ACTS))])
    scored = {}
    for t, rows in tests.items():
        p = np.stack([_platt_probs(test_scores[t][:, j], ab) for j, ab in enumerate(platt)],
                     axis=1)
        scored[t] = evaluate(p, rows.y, thresholds)
    selection = [by_author[f"{g}_{lang}"]["macro_f1"] for g in SELECTION_AUTHORS
                 for lang in LANGUAGES if f"{g}_{lang}" in by_author]
    return {"candidate": name, "grid": [h.name for h in grid],
            "chosen_per_act": dict(zip(ACTS, chosen, strict=True)),
            "loao_selection_mean": round(float(np.mean(selection)), 4),
            "loao": by_author, "scored": scored,
            "platt": {a: [round(x, 4) for x in ab] for a, ab in zip(ACTS, platt, strict=True)},
            "thresholds": {a: float(t) for a, t in zip(ACTS, thresholds, strict=True)},
            "cpu_s": round(time.process_time() - started, 1)}


class ConcatAugmentedHead(LogisticHead):
    """The base logistic head, fitted on the training rows plus as many synthetic "longer
    turns": the length-weighted, renormalised mean of two same-language, same-role lines'
    vectors, carrying both lines' acts. Aimed at acts said inside long turns."""

    def __init__(self, name: str, c: float, share: float = 1.0) -> None:
        super().__init__(name, c)
        self.share = share

    def fit(self, train: Rows, groups: np.ndarray, warm: Any = None) -> Any:
        from qa_pipeline.text import text_units

        rng = np.random.default_rng(0)
        n = len(train.texts)
        length = np.array([max(len(text_units(t)), 1) for t in train.texts], dtype=np.float64)
        first = rng.choice(n, size=int(self.share * n), replace=True)
        keys = [f"{lang}|{int(r[0])}" for lang, r in zip(train.langs, train.role, strict=True)]
        pools: dict[str, np.ndarray] = {}
        for k in set(keys):
            pools[k] = np.flatnonzero(np.array(keys) == k)
        second = np.array([rng.choice(pools[keys[i]]) for i in first])
        mixed = (length[first, None] * train.emb[first] + length[second, None] * train.emb[second])
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        both = Rows(np.vstack([train.emb, mixed]), np.vstack([train.role, train.role[first]]),
                    train.texts + tuple(train.texts[i] for i in first),
                    np.r_[train.langs, train.langs[first]],
                    np.vstack([train.y, train.y[first] | train.y[second]]))
        return super().fit(both, groups, warm)


def candidates() -> dict[str, list[Head]]:
    """Candidate name -> its grid (the per-act choice among the grid is part of the recipe)."""
    base = [LogisticHead(f"lr_c{c:g}", c) for c in C_GRID]
    lex = [LexicalHead(f"lex13_c{c:g}", (1, 3), c) for c in (4.0, 16.0)]
    lex_ens = {w: [SumHead(f"{b.name}+{w:g}*{x.name}", [(b, 1.0), (x, w)]) for b in base
                   for x in lex] for w in (0.3, 0.6, 1.0)}
    return {
        "base": base,
        "lexical": lex,
        **{f"emb+lex_{w:g}": grid for w, grid in lex_ens.items()},
        "concat_aug": [ConcatAugmentedHead(f"aug_c{c:g}", c) for c in C_GRID],
        "balanced": [LogisticHead(f"lrbal_c{c:g}", c, "balanced") for c in C_GRID],
        "mlp": [MLPHead(f"mlp256_a{a:g}", 256, a) for a in (1e-2,)],
        "rbf": [NystroemHead(f"rbf_g{g:g}_c{c:g}", g, 800, c) for g in (8.0,) for c in (16.0,)],
        "per_language": [LogisticHead(f"lrlang_c{c:g}", c, per_language=True) for c in C_GRID],
        "base_wide_c": [LogisticHead(f"lr_c{c:g}", c) for c in (4.0, 16.0, 64.0, 256.0)],
    }


def load_score_cache(path: Path | None, tests: Sequence[str]) -> dict[str, Any]:
    """Head name -> (out-of-fold scores, test set -> scores), as :func:`head_scores` keeps."""
    if path is None or not path.exists():
        return {}
    with np.load(path) as data:
        names = {k.split("|")[0] for k in data.files}
        return {n: (data[f"{n}|oof"], {t: data[f"{n}|{t}"] for t in tests}) for n in names
                if all(f"{n}|{t}" in data.files for t in tests)}


def save_score_cache(path: Path | None, cache: dict[str, Any]) -> None:
    if path is None:
        return
    arrays = {f"{n}|oof": oof for n, (oof, _) in cache.items()}
    arrays.update({f"{n}|{t}": s for n, (_, by_test) in cache.items() for t, s in by_test.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--out", type=Path, default=RESULTS / "acthead_compare.json")
    ap.add_argument("--embedding-cache", type=Path, default=Path("/tmp/acthead/emb.npz"),
                    help=".npz cache of sentence vectors (text -> vector, kept between runs)")
    ap.add_argument("--only", default="", help="comma-separated candidate names")
    ap.add_argument("--score-cache", type=Path, default=None,
                    help="optional .npz of heads' scores kept between runs (development; "
                         "delete it after changing the corpus or a head)")
    args = ap.parse_args(argv)
    embedder = FileCachedEmbedder(default_embedder(), args.embedding_cache)
    train_examples, groups = read_training(CORPUS)
    train = rows_of(train_examples, embedder.embed)
    tests: dict[str, Rows] = {}
    for lang in LANGUAGES:
        for name in OUT_OF_AUTHOR:
            tests[f"{name.removeprefix('act_authors_')}_{lang}"] = rows_of(
                read_act_corpus(BENCH / name / f"acts_{lang}.tsv"), embedder.embed)
        tests[f"valid_{lang}"] = rows_of(read_act_corpus(CORPUS / f"valid_{lang}.tsv"),
                                         embedder.embed)
    tests["valid_en_asr"] = rows_of(read_act_corpus(CORPUS / "valid_en_asr.tsv"), embedder.embed)
    for name in HELDOUT_SETS:
        for lang in LANGUAGES:
            tests[f"{name}_{lang}"] = rows_of(read_act_corpus(BENCH / name / f"acts_{lang}.tsv"),
                                              embedder.embed)
    only = {n for n in args.only.split(",") if n}
    results = []
    cache = load_score_cache(args.score_cache, list(tests))
    for name, grid in candidates().items():
        if only and name not in only:
            continue
        r = run_candidate(name, grid, train, groups, tests, cache)
        save_score_cache(args.score_cache, cache)
        results.append(r)
        s = r["scored"]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(),
                                        "train_utterances": len(train.texts),
                                        "results": results}) + "\n", encoding="utf-8")
        print(f"{name:16s} loao {r['loao_selection_mean']:.4f} "
              + " ".join(f"{k} {s[k]['macro_f1']:.3f}" for k in ("d_zh", "d_en", "e_zh", "e_en",
                                                                  "valid_zh", "valid_en"))
              + f" ({r['cpu_s']} s)", file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": datetime.date.today().isoformat(),
                                    "train_utterances": len(train.texts),
                                    "results": results}) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
