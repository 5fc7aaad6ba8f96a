"""benchmarks/acts_heads_compare.py: the fast logistic fit and the shared training recipe."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import acts_heads_compare as ahc  # noqa: E402

from qa_pipeline.acts.taxonomy import ACTS  # noqa: E402


def _problem(n: int = 300, d: int = 6, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, d)) + 3.0  # an offset: centring must be exact
    w = rng.normal(size=(d, k))
    y = ((x - 3.0) @ w + rng.normal(size=(n, k)) > 0.5).astype(np.int8)
    return x, y


def test_fit_logistic_matches_scikit_learn_per_column() -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = _problem()
    w, b = ahc.fit_logistic(x, y, 2.0, gtol=1e-9)
    for j in range(y.shape[1]):
        ref = LogisticRegression(C=2.0, tol=1e-10, max_iter=10000).fit(x, y[:, j])
        np.testing.assert_allclose(w[:, j], ref.coef_[0], atol=1e-3)
        assert b[j] == pytest.approx(ref.intercept_[0], abs=1e-3)


def test_fit_logistic_warm_start_reaches_the_same_minimum() -> None:
    x, y = _problem()
    cold = ahc.fit_logistic(x, y, 2.0, gtol=1e-9)
    warm = ahc.fit_logistic(x, y, 2.0, start=ahc.fit_logistic(x[:150], y[:150], 2.0),
                            gtol=1e-9)
    np.testing.assert_allclose(warm[0], cold[0], atol=1e-3)
    np.testing.assert_allclose(warm[1], cold[1], atol=1e-3)


def test_fit_logistic_balanced_weights_raise_the_rare_class() -> None:
    x, y = _problem()
    y = y.copy()
    y[:, 0] = 0
    y[:12, 0] = 1  # a rare act
    plain = ahc.fit_logistic(x, y, 2.0)
    balanced = ahc.fit_logistic(x, y, 2.0, class_weight="balanced")
    assert (x @ balanced[0][:, 0] + balanced[1][0]).mean() \
        > (x @ plain[0][:, 0] + plain[1][0]).mean()


class _Constant(ahc.Head):
    """A head that knows nothing: every score 0."""

    name = "constant"

    def fit(self, train: ahc.Rows, groups: np.ndarray, warm: object = None) -> object:
        return None

    def scores(self, fitted: object, rows: ahc.Rows) -> np.ndarray:
        return np.zeros((len(rows.texts), len(ACTS)))


def _rows(authors: int, per_act: int, seed: int) -> tuple[ahc.Rows, np.ndarray]:
    """Each act a direction of the space; each author's lines scattered around it."""
    rng = np.random.default_rng(seed)
    k = len(ACTS)
    centres = np.eye(384)[:k]
    act = np.tile(np.repeat(np.arange(k), per_act), authors)
    emb = centres[act] + 0.3 * rng.normal(size=(len(act), 384)) / np.sqrt(384)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    y = np.zeros((len(act), k), dtype=np.int8)
    y[np.arange(len(act)), act] = 1
    role = np.tile([[1.0, 0.0]], (len(act), 1))
    langs = np.array(["en" if i % 2 else "zh" for i in range(len(act))])
    groups = np.repeat(np.array(["project", "extra_a", "extra_b"][:authors]), k * per_act)
    return ahc.Rows(emb, role, tuple(f"t{i}" for i in range(len(act))), langs, y), groups


def test_run_candidate_scores_authors_out_of_fold_and_picks_by_log_loss() -> None:
    train, groups = _rows(3, 4, 0)
    test, _ = _rows(1, 4, 1)
    grid = [_Constant(), ahc.LogisticHead("lr", 16.0)]
    out = ahc.run_candidate("t", grid, train, groups, {"d_zh": test}, {})
    assert set(out["chosen_per_act"].values()) == {"lr"}  # the informative head wins
    assert set(out["loao"]) == {f"{g}_{lang}" for g in ("project", "extra_a", "extra_b")
                                for lang in ("zh", "en")}
    assert out["loao_selection_mean"] > 0.9
    assert out["scored"]["d_zh"]["macro_f1"] > 0.9
    alone = ahc.run_candidate("c", [_Constant()], train, groups, {"d_zh": test}, {})
    assert alone["scored"]["d_zh"]["macro_f1"] < 0.2
