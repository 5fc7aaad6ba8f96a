"""Multi-label dialogue-act classifier on multilingual-e5-small sentence embeddings.

One calibrated logistic head per act over ``[embedding, is_agent, is_customer]``:
``P(act) = sigmoid(a * (w . x + b) + c)`` where ``(a, c)`` is a Platt calibration fitted on
cross-validated scores and each act has its own decision threshold. The embedded heads are
trained in this repository (``python -m qa_pipeline.acts.train``; data and accuracy in
``corpus/README.md``). Tenants add their own acts from example sentences
(:meth:`ActModel.with_tenant_acts`), fitted at load and cached by content hash. The same call
refits a built-in act's head for one tenant or rubric (``refit``): a residual on the shipped
head, fitted on the tenant's examples and counter-examples (e.g. QA reviews) and anchored to
the shipped head's own answers on ordinary call sentences, so only the neighbourhood of the
examples moves.

A model may also carry a lexical head (:class:`LexicalHeads`, ``python -m
qa_pipeline.acts.train --lexical``): a character 1-3-gram TF-IDF logistic head per act whose
score is added, times a fixed mix weight, to the embedding head's score before the Platt
calibration: ``P(act) = sigmoid(a * (w . x + b + mix * (u . t + d)) + c)`` with ``t`` the
utterance's TF-IDF vector and role flags. That ensemble (:data:`LEXICAL_WEIGHTS_PATH`) is the
packaged default (:data:`WEIGHTS_PATH`); the embedding-only heads stay selectable
(:data:`HEAD_WEIGHTS_PATH`, through the ``act_model`` setting).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qa_pipeline.acts.taxonomy import ACTS, ROLES
from qa_pipeline.errors import ConfigError, ModelUnavailableError
from qa_pipeline.rubric.embeddings import Embedder, default_embedder

# The embedding-only heads, for those who select them (``act_model`` setting).
HEAD_WEIGHTS_PATH = Path(__file__).with_name("weights") / "acts_e5small_head.npz"
MODEL_NAME = "acts-e5small-head"
# The embedding + character n-gram ensemble: the default model.
LEXICAL_WEIGHTS_PATH = HEAD_WEIGHTS_PATH.with_name("acts_e5small_lex.npz")
LEXICAL_MODEL_NAME = "acts-e5small-lex"
WEIGHTS_PATH = LEXICAL_WEIGHTS_PATH
EMBEDDING_DIM = 384
DEFAULT_THRESHOLD = 0.5
# Tenant heads: a role-less logistic regression on the embedding. Explicit negatives count
# more than the shipped background sentences, which only say what ordinary calls sound like.
TENANT_INVERSE_REGULARISATION = 4.0
TENANT_NEGATIVE_WEIGHT = 2.0
TENANT_CACHE_SIZE = 32
# Part of the fitted heads' cache key: raise it when the fitting code changes, so that heads
# fitted by older code are not read back.
FIT_VERSION = 2
# Refits of a built-in head: L2 penalties of the residual (per unit of example weight), tried
# from the strongest down until every example lands on its side of the act's threshold, and
# the total weight of the anchor (the shipped head's answers on the background sentences)
# relative to the examples. Stronger penalties keep the refit closer to the shipped head.
REFIT_PENALTIES = (0.02, 0.01, 0.005, 0.0025, 0.001)
REFIT_ANCHOR_WEIGHT = 1.0


#: One fitted act head: (weight, bias, Platt scale, Platt offset, decision threshold).
HeadRow = tuple[np.ndarray, float, float, float, float]


@dataclass(frozen=True)
class TenantActExamples:
    """Few-shot definition of a tenant's own act.

    Attributes:
        positives: sentences that perform the act (at least two; for a refit, at least one
            sentence in positives and negatives together).
        negatives: sentences that look similar but do not (optional).
        role: "agent" or "customer" to score only that role's utterances; None for both.
        description: free text for people reading the rubric.
        refit: the id names a built-in act, whose head is refitted on these sentences
            (a residual on the shipped head) instead of a new act being added.
    """

    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    role: str | None = None
    description: str = ""
    refit: bool = False


@dataclass(frozen=True)
class ActHeads:
    """Arrays of a set of calibrated act heads (one row per act)."""

    acts: tuple[str, ...]
    weight: np.ndarray  # (k, dim + 2): embedding then is_agent, is_customer
    bias: np.ndarray  # (k,)
    calibration_scale: np.ndarray  # (k,) Platt slope
    calibration_offset: np.ndarray  # (k,) Platt intercept
    thresholds: np.ndarray  # (k,) decision threshold on the calibrated probability
    roles: tuple[str | None, ...]  # per act: only this role's utterances can carry it

    def __post_init__(self) -> None:
        k = len(self.acts)
        shapes = (self.weight.shape[0], self.bias.shape[0], self.calibration_scale.shape[0],
                  self.calibration_offset.shape[0], self.thresholds.shape[0], len(self.roles))
        if any(s != k for s in shapes) or self.weight.shape[1] != EMBEDDING_DIM + 2:
            raise ModelUnavailableError(f"act heads are malformed: {k} acts, shapes {shapes}, "
                                        f"weight {self.weight.shape}")

    @classmethod
    def from_rows(cls, acts: Sequence[str], rows: Sequence[HeadRow],
                  roles: Sequence[str | None]) -> ActHeads:
        """Heads from one fitted ``(weight, bias, scale, offset, threshold)`` row per act."""
        return cls(
            acts=tuple(acts),
            weight=np.array([r[0] for r in rows], dtype=np.float32),
            bias=np.array([r[1] for r in rows], dtype=np.float32),
            calibration_scale=np.array([r[2] for r in rows], dtype=np.float32),
            calibration_offset=np.array([r[3] for r in rows], dtype=np.float32),
            thresholds=np.array([r[4] for r in rows], dtype=np.float32),
            roles=tuple(roles),
        )


@dataclass(frozen=True)
class LexicalHeads:
    """A character n-gram TF-IDF logistic head per act, stored as plain arrays (no pickle).

    The vectoriser is scikit-learn's ``TfidfVectorizer(analyzer="char_wb", lowercase=True,
    sublinear_tf=True, norm="l2")`` fitted vocabulary and IDF: character n-grams need no
    Mandarin word segmentation.

    Attributes:
        vocabulary: n-grams, in column order.
        idf: ``(v,)`` inverse document frequencies.
        weight: ``(k, v + 2)``: TF-IDF columns then is_agent, is_customer.
        bias: ``(k,)``.
        mix: the lexical score's weight in the sum with the embedding head's score.
        ngram_range: (shortest, longest) n-gram length in characters.
    """

    vocabulary: tuple[str, ...]
    idf: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    mix: float
    ngram_range: tuple[int, int] = (1, 3)

    def __post_init__(self) -> None:
        v = len(self.vocabulary)
        if (self.idf.shape != (v,) or self.weight.ndim != 2 or self.weight.shape[1] != v + 2
                or self.bias.shape != (self.weight.shape[0],)):
            raise ModelUnavailableError(
                f"lexical act heads are malformed: {v} n-grams, idf {self.idf.shape}, "
                f"weight {self.weight.shape}, bias {self.bias.shape}")

    def features(self, texts: Sequence[str], roles: Sequence[Any] | None) -> Any:
        """Sparse ``(n, v + 2)`` rows: the texts' TF-IDF vectors, then the role flags."""
        return tfidf_features(self.vocabulary, self.idf, self.ngram_range, texts, roles,
                              self._counter)

    @cached_property
    def _counter(self) -> Any:
        # Building the vectoriser (a dict of the whole vocabulary, checked) costs far more
        # than counting one call's n-grams: build it once per model.
        return _count_vectorizer(self.vocabulary, self.ngram_range)

    def scores(self, texts: Sequence[str], roles: Sequence[Any] | None) -> np.ndarray:
        """``(n, k)`` lexical decision scores (before the mix weight)."""
        out: np.ndarray = np.asarray(self.features(texts, roles) @ self.weight.T.astype(
            np.float64)) + self.bias
        return out

    def without_rows(self, rows: Sequence[int], extra: int = 0) -> LexicalHeads:
        """A copy whose ``rows`` are zero (their acts scored by the embedding head alone) and
        with ``extra`` zero rows appended (acts that have no lexical head).
        """
        weight = self.weight.copy()
        bias = self.bias.copy()
        weight[list(rows)] = 0.0
        bias[list(rows)] = 0.0
        return LexicalHeads(
            self.vocabulary, self.idf,
            np.vstack([weight, np.zeros((extra, weight.shape[1]), dtype=weight.dtype)]),
            np.concatenate([bias, np.zeros(extra, dtype=bias.dtype)]), self.mix,
            self.ngram_range)


def _count_vectorizer(vocabulary: Sequence[str], ngram_range: tuple[int, int]) -> Any:
    from sklearn.feature_extraction.text import CountVectorizer

    counter = CountVectorizer(analyzer="char_wb", ngram_range=ngram_range, lowercase=True,
                              vocabulary={g: i for i, g in enumerate(vocabulary)})
    counter.fit([""])  # a fixed vocabulary: fitting only checks it, once, not per transform
    return counter


def tfidf_features(vocabulary: Sequence[str], idf: np.ndarray, ngram_range: tuple[int, int],
                   texts: Sequence[str], roles: Sequence[Any] | None,
                   counter: Any = None) -> Any:
    """Sparse ``(n, len(vocabulary) + 2)`` rows: what scikit-learn's fitted
    ``TfidfVectorizer(analyzer="char_wb", lowercase=True, sublinear_tf=True)`` with this
    vocabulary and IDF gives for ``texts``, then the role flags (``counter``: a
    ``_count_vectorizer`` of this vocabulary, reused between calls).
    """
    from scipy.sparse import csr_matrix, diags, hstack
    from sklearn.preprocessing import normalize

    if counter is None:
        counter = _count_vectorizer(vocabulary, ngram_range)
    counts = counter.transform(list(texts))
    counts = counts.astype(np.float64)
    counts.data = 1.0 + np.log(counts.data)  # sublinear tf, as TfidfVectorizer's
    tfidf = normalize(counts @ diags(np.asarray(idf, dtype=np.float64)), norm="l2")
    return hstack([tfidf, csr_matrix(role_features(roles, len(texts)))]).tocsr()


def role_features(roles: Sequence[Any] | None, n: int) -> np.ndarray:
    """``(n, 2)`` one-hot (is_agent, is_customer); an unknown or missing role is all zeros."""
    out = np.zeros((n, 2), dtype=np.float32)
    if roles is None:
        return out
    if len(roles) != n:
        raise ValueError(f"{len(roles)} roles for {n} utterances")
    for i, role in enumerate(_role_names(roles)):
        if role in ROLES:
            out[i, ROLES.index(role)] = 1.0
    return out


def _role_names(roles: Sequence[Any]) -> list[str]:
    # Accept qa_pipeline.types.Role members as well as plain strings.
    return [str(getattr(r, "value", r)) for r in roles]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic
    return out


class ActModel:
    """Calibrated multi-label act classifier; see the module docstring."""

    def __init__(self, heads: ActHeads, *, model_id: str, embedder_id: str,
                 background: np.ndarray | None = None,
                 embedder_factory: Callable[[], Embedder] = default_embedder,
                 lexical: LexicalHeads | None = None,
                 embedding_only: ActHeads | None = None) -> None:
        """Wrap trained heads.

        Args:
            heads: the calibrated heads (with ``lexical``: the embedding part of each act's
                score, and the calibration and threshold of the sum).
            model_id: identifier recorded in evidence.
            embedder_id: ``model_id`` of the embedder the heads were trained on.
            background: ``(m, dim)`` embeddings of ordinary call sentences, the default
                negatives of tenant acts.
            embedder_factory: builds the text embedder on first use.
            lexical: optional lexical heads whose score is added to the embedding score.
            embedding_only: with ``lexical``: the embedding heads calibrated and thresholded
                on their own, the base of refits of built-in acts (which stay
                embedding-only). Defaults to ``heads``.
        """
        if lexical is not None and lexical.weight.shape[0] != len(heads.acts):
            raise ModelUnavailableError(f"{lexical.weight.shape[0]} lexical heads for "
                                        f"{len(heads.acts)} acts")
        self.heads = heads
        self.lexical = lexical
        self.embedding_only = embedding_only if embedding_only is not None else heads
        self.model_id = model_id
        self.embedder_id = embedder_id
        self.background = background
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._index = {act: i for i, act in enumerate(heads.acts)}
        self._weights_sha256: str | None = None

    @property
    def weights_sha256(self) -> str:
        """Digest of everything a fitted tenant head or refit depends on besides its examples:
        the heads' arrays, roles and acts, the background sentences and the encoder id.

        ``model_id`` alone is a name: two models may share it (a test's, a retrained file
        loaded under an old id), and a head refitted on one must not be read back for the other.
        """
        if self._weights_sha256 is None:
            digest = heads_sha256(self.heads, self.background, self.embedder_id)
            if self.lexical is not None:
                # Refits read the embedding-only heads: they are part of the identity too.
                more = hashlib.sha256(digest.encode() + b"lexical")
                for array in (self.embedding_only.calibration_scale,
                              self.embedding_only.calibration_offset,
                              self.embedding_only.thresholds, self.lexical.idf,
                              self.lexical.weight, self.lexical.bias):
                    more.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
                more.update(json.dumps([list(self.lexical.vocabulary), self.lexical.mix],
                                       ensure_ascii=False).encode())
                digest = more.hexdigest()
            self._weights_sha256 = digest
        return self._weights_sha256

    @property
    def acts(self) -> tuple[str, ...]:
        """Act ids, in column order of the probability matrices."""
        return self.heads.acts

    def embedder(self) -> Embedder:
        """The text embedder, built on first use and checked against the training encoder."""
        if self._embedder is None:
            embedder = self._embedder_factory()
            if embedder.model_id != self.embedder_id:
                raise ModelUnavailableError(
                    f"{self.model_id} was trained on {self.embedder_id} embeddings, "
                    f"not {embedder.model_id}")
            self._embedder = embedder
        return self._embedder

    def predict_texts(self, texts: Sequence[str],
                      roles: Sequence[Any] | None = None) -> np.ndarray:
        """Calibrated probabilities ``(len(texts), len(acts))`` for raw utterance texts."""
        if not texts:
            return np.zeros((0, len(self.acts)), dtype=np.float32)
        return self.predict_embeddings(self.embedder().embed(list(texts)), roles, texts)

    def predict_embeddings(self, emb: np.ndarray, roles: Sequence[Any] | None = None,
                           texts: Sequence[str] | None = None) -> np.ndarray:
        """Calibrated probabilities from ``(n, 384)`` unit e5 embeddings (shared with other stages).

        Args:
            emb: embeddings from the same embedder the heads were trained on.
            roles: per-utterance "agent" / "customer" (or ``Role`` members); None or any other
                value means unknown, and acts restricted to one role are then not masked.
            texts: the embedded texts; required when the model has a lexical head (ignored
                otherwise).

        Raises:
            ValueError: malformed embeddings, or a lexical model given no (or too few) texts.
        """
        emb = np.asarray(emb, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[1] != EMBEDDING_DIM:
            raise ValueError(f"expected (n, {EMBEDDING_DIM}) embeddings, got {emb.shape}")
        n = emb.shape[0]
        features = np.hstack([emb, role_features(roles, n)])
        h = self.heads
        scores = features @ h.weight.T + h.bias
        if self.lexical is not None:
            if texts is None or len(texts) != n:
                raise ValueError(f"{self.model_id} has a lexical head: predict_embeddings needs "
                                 f"the {n} embedded texts, got "
                                 f"{'none' if texts is None else len(texts)}")
            if n:
                scores = scores + self.lexical.mix * self.lexical.scores(texts, roles)
        probs = _sigmoid(h.calibration_scale * scores + h.calibration_offset).astype(np.float32)
        if roles is not None and any(r is not None for r in h.roles):
            names = np.array(_role_names(roles))
            for j, only in enumerate(h.roles):
                if only is not None:
                    other = np.isin(names, ROLES) & (names != only)
                    probs[other, j] = 0.0
        return probs

    def threshold(self, act: str) -> float:
        """Decision threshold on the calibrated probability of ``act``."""
        try:
            return float(self.heads.thresholds[self._index[act]])
        except KeyError:
            raise ConfigError(f"unknown act {act!r}; valid: {', '.join(self.acts)}") from None

    def with_tenant_acts(self, defs: Mapping[str, TenantActExamples], *,
                         cache_dir: Path | Literal[False] | None = None) -> ActModel:
        """This model plus one few-shot head per tenant act, and with the built-in heads that
        ``defs`` refit (``refit=True``) replaced by their refits; cached by content hash (the
        examples, the fit settings and this model's id and weights, :attr:`weights_sha256`).

        Args:
            defs: act id -> examples. A new act's id must not reuse a built-in act id; a
                refit's id must be a built-in act id.
            cache_dir: directory for fitted heads (``tenant-acts-<hash>.npz``), so that
                later processes do not refit them; None: ``<models dir>/cache/act-heads``
                (see :func:`qa_pipeline.weights.models_dir`); False: no files. A folder that
                cannot be written only costs the refit.

        Raises:
            ConfigError: a reused or unknown id, an unknown role, or too few examples.
        """
        if not defs:
            return self
        _validate_tenant_defs(defs, self.acts)
        key = _tenant_key(self.model_id, self.weights_sha256, defs)
        heads = _TENANT_CACHE.get(key)
        if heads is None:
            folder = default_heads_cache() if cache_dir is None else cache_dir
            path = folder / f"tenant-acts-{key[:32]}.npz" if folder is not False else None
            if path is not None and path.exists():
                heads = _load_tenant_heads(path, tuple(_refits_then_new(defs)))
            if heads is None:
                heads = self._fit_tenant_heads(defs)
                if path is not None:
                    try:
                        _save_tenant_heads(path, heads)
                    except OSError:
                        pass  # a read-only site: the next process fits them again
            _TENANT_CACHE.put(key, heads)
        refitted = {name: i for i, name in enumerate(heads.acts) if name in self._index}
        added = [i for i, name in enumerate(heads.acts) if name not in self._index]
        h = self.heads
        weight, bias = h.weight.copy(), h.bias.copy()
        scale, offset = h.calibration_scale.copy(), h.calibration_offset.copy()
        thresholds = h.thresholds.copy()
        roles = list(h.roles)
        for name, i in refitted.items():
            j = self._index[name]
            weight[j], bias[j] = heads.weight[i], heads.bias[i]
            scale[j], offset[j] = heads.calibration_scale[i], heads.calibration_offset[i]
            thresholds[j] = heads.thresholds[i]
            roles[j] = heads.roles[i]
        combined = ActHeads(
            acts=h.acts + tuple(heads.acts[i] for i in added),
            weight=np.vstack([weight, heads.weight[added]]),
            bias=np.concatenate([bias, heads.bias[added]]),
            calibration_scale=np.concatenate([scale, heads.calibration_scale[added]]),
            calibration_offset=np.concatenate([offset, heads.calibration_offset[added]]),
            thresholds=np.concatenate([thresholds, heads.thresholds[added]]),
            roles=tuple(roles) + tuple(heads.roles[i] for i in added),
        )
        # Tenant acts and refits are embedding-only: their few examples are too few for an
        # n-gram head, and a refit is a residual on the embedding-only head (see
        # ``_refit_head``), so a refitted act's lexical part is switched off.
        lexical = (self.lexical.without_rows([self._index[n] for n in refitted], len(added))
                   if self.lexical is not None else None)
        embedding_only = None
        if self.lexical is not None:
            # The embedding-only calibration of each act: the refit's for refitted and added
            # acts, the model's own embedding-only one for the others.
            is_refit = np.array([a in refitted for a in h.acts], dtype=bool)

            def merged(own: np.ndarray, refit: np.ndarray, fitted: np.ndarray) -> np.ndarray:
                return np.concatenate([np.where(is_refit, refit, own),
                                       fitted[added]]).astype(np.float32)

            base = self.embedding_only
            embedding_only = ActHeads(
                acts=combined.acts, weight=combined.weight, bias=combined.bias,
                calibration_scale=merged(base.calibration_scale, scale,
                                         heads.calibration_scale),
                calibration_offset=merged(base.calibration_offset, offset,
                                          heads.calibration_offset),
                thresholds=merged(base.thresholds, thresholds, heads.thresholds),
                roles=combined.roles)
        model = ActModel(combined, model_id=f"{self.model_id}+tenant:{key[:12]}",
                         embedder_id=self.embedder_id, background=self.background,
                         embedder_factory=self._embedder_factory, lexical=lexical,
                         embedding_only=embedding_only)
        model._embedder = self._embedder
        return model

    def _fit_tenant_heads(self, defs: Mapping[str, TenantActExamples]) -> ActHeads:
        """Heads of ``defs``: the refits first (in ``defs`` order), then the new acts."""
        ordered = _refits_then_new(defs)
        new = {n: d for n, d in ordered.items() if not d.refit}
        rows = [self._refit_head(n, d) for n, d in ordered.items() if d.refit]
        if new:
            rows += self._fit_new_heads(new)
        roles = tuple(d.role if d.role is not None or not d.refit
                      else self.heads.roles[self._index[n]]
                      for n, d in ordered.items())
        return ActHeads.from_rows(tuple(ordered), rows, roles)

    def _background(self) -> np.ndarray:
        return (self.background if self.background is not None
                else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)).astype(np.float32)

    def _refit_head(self, name: str, d: TenantActExamples
                    ) -> HeadRow:
        """A built-in head refitted on ``d``: the shipped calibrated logit plus a linear
        residual on the (centred) embedding, fitted by penalised maximum likelihood.

        The data are ``d``'s positives (target 1) and negatives (target 0), each set weighing
        as much in total as the other, and the background sentences with the shipped head's
        own probabilities as soft targets, so that away from the examples the refit answers as
        the shipped head does. The residual folds back into one linear head, so a refit
        costs nothing at prediction time.
        """
        from scipy.optimize import minimize

        j = self._index[name]
        # With a lexical head, the embedding head calibrated on its own: a refit has no
        # n-gram part (see ``with_tenant_acts``).
        h = self.embedding_only
        background = self._background()
        pos = (self.embedder().embed(list(d.positives)) if d.positives
               else np.zeros((0, EMBEDDING_DIM), dtype=np.float32))
        neg = (self.embedder().embed(list(d.negatives)) if d.negatives
               else np.zeros((0, EMBEDDING_DIM), dtype=np.float32))
        examples = np.vstack([pos, neg]).astype(np.float64)
        x = np.vstack([examples, background]).astype(np.float64)
        role = role_features([d.role] * len(x), len(x)) if d.role else np.zeros((len(x), 2))
        a, c = float(h.calibration_scale[j]), float(h.calibration_offset[j])
        w0 = h.weight[j].astype(np.float64)
        z0 = a * (np.hstack([x, role]) @ w0 + float(h.bias[j])) + c
        soft = np.asarray(_sigmoid(z0[len(examples):]), dtype=np.float64)
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg)), soft]
        per_pos = 1.0 / max(len(pos), 1)
        per_neg = 1.0 / max(len(neg), 1)
        anchor = REFIT_ANCHOR_WEIGHT * (bool(len(pos)) + bool(len(neg)))
        weights = np.r_[np.full(len(pos), per_pos), np.full(len(neg), per_neg),
                        np.full(len(background), anchor / max(len(background), 1))]
        mean = background.mean(axis=0).astype(np.float64) if len(background) else \
            np.zeros(EMBEDDING_DIM)
        xc = x - mean
        threshold = float(h.thresholds[j])
        # The examples' shipped logits as either role would give them: an example with no
        # role must land on its side whoever says it.
        k = len(examples)
        said_by = [role_features([r] * k, k) for r in ((d.role,) if d.role else ROLES)]
        z_roles = [a * (np.hstack([examples, f]) @ w0 + float(h.bias[j])) + c for f in said_by]
        positive = np.r_[np.ones(len(pos), dtype=bool), np.zeros(len(neg), dtype=bool)]

        # No free intercept: a shift of the whole head would move every utterance, the real
        # acts far from the examples included; the residual only tilts the head.
        def loss(v: np.ndarray, penalty: float) -> tuple[float, np.ndarray]:
            z = z0 + xc @ v
            p = np.asarray(_sigmoid(z), dtype=np.float64)
            # log(1 + e^z) - y z, written to stay finite for large |z|.
            nll = np.logaddexp(0.0, z) - y * z
            r = weights * (p - y)
            value = float(weights @ nll) + 0.5 * penalty * float(v @ v)
            return value, xc.T @ r + penalty * v

        v = np.zeros(EMBEDDING_DIM)
        for strength in REFIT_PENALTIES:
            v = minimize(loss, v, args=(strength * float(weights.sum()),), jac=True,
                         method="L-BFGS-B", options={"maxiter": 500}).x
            shift = xc[:k] @ v
            if all(bool(np.all((_sigmoid(z + shift) >= threshold) == positive))
                   for z in z_roles):
                break  # the weakest change that puts every example on its side
        # sigmoid(a (w0.[x, r] + b0) + c + v.(x - mean)) as one head with scale 1:
        weight = a * w0
        weight[:EMBEDDING_DIM] += v
        bias = a * float(h.bias[j]) + c - float(v @ mean)
        return weight, bias, 1.0, 0.0, float(h.thresholds[j])

    def _fit_new_heads(self, defs: Mapping[str, TenantActExamples]
                       ) -> list[HeadRow]:
        try:
            from sklearn.linear_model import LogisticRegression
        except ImportError as e:
            raise ModelUnavailableError("tenant acts need scikit-learn") from e
        background = self._background()
        rows = []
        for name, d in defs.items():
            pos = self.embedder().embed(list(d.positives))
            neg = (self.embedder().embed(list(d.negatives)) if d.negatives
                   else np.zeros((0, EMBEDDING_DIM), dtype=np.float32))
            # Other tenant acts' positives are negatives too: two tenant acts should not merge.
            others = [s for other, od in defs.items() if other != name for s in od.positives
                      if s not in d.positives]
            if others:
                neg = np.vstack([neg, self.embedder().embed(others)])
            x = np.vstack([pos, neg, background])
            y = np.r_[np.ones(len(pos)), np.zeros(len(neg) + len(background))]
            # Positives weigh as much in total as all negatives together.
            neg_weight = np.r_[np.full(len(neg), TENANT_NEGATIVE_WEIGHT),
                               np.ones(len(background))]
            pos_weight = np.full(len(pos), max(neg_weight.sum(), 1.0) / len(pos))
            weights = np.r_[pos_weight, neg_weight]
            clf = LogisticRegression(C=TENANT_INVERSE_REGULARISATION, max_iter=2000)
            clf.fit(x, y, sample_weight=weights)
            scale, offset = platt_from_cv(x, y, weights, TENANT_INVERSE_REGULARISATION)
            weight = np.r_[clf.coef_[0], 0.0, 0.0]
            rows.append((weight, float(clf.intercept_[0]), scale, offset, DEFAULT_THRESHOLD))
        return rows


def platt_from_cv(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
                  inverse_regularisation: float, folds: int = 5) -> tuple[float, float]:
    """Platt scaling ``(slope, intercept)`` fitted on out-of-fold logistic scores.

    Scores of a head on its own training sentences are over-confident, so the calibration is
    fitted on scores from models that did not see the sentence (stratified folds, seed 0).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    n_pos = int(y.sum())
    k = min(folds, n_pos, len(y) - n_pos)
    if k < 2:
        return 1.0, 0.0
    w = np.ones(len(y)) if weights is None else weights
    scores = np.zeros(len(y))
    for train, test in StratifiedKFold(k, shuffle=True, random_state=0).split(x, y):
        clf = LogisticRegression(C=inverse_regularisation, max_iter=2000)
        clf.fit(x[train], y[train], sample_weight=w[train])
        scores[test] = clf.decision_function(x[test])
    return fit_platt(scores, y)


def fit_platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt ``(slope, intercept)`` on unweighted data, with Platt's smoothed targets."""
    from sklearn.linear_model import LogisticRegression

    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    # Platt (1999): targets pulled off 0/1 so that separable data does not give an
    # infinite slope.
    target_pos, target_neg = (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2)
    xs = np.r_[scores, scores].reshape(-1, 1)
    ys = np.r_[np.ones(len(y)), np.zeros(len(y))]
    soft = np.where(y > 0, target_pos, target_neg)
    ws = np.r_[soft, 1 - soft]
    clf = LogisticRegression(C=1e4, max_iter=2000)
    clf.fit(xs, ys, sample_weight=ws)
    return float(clf.coef_[0, 0]), float(clf.intercept_[0])


def _validate_tenant_defs(defs: Mapping[str, TenantActExamples], builtin: Sequence[str]) -> None:
    for name, d in defs.items():
        if d.role is not None and d.role not in ROLES:
            raise ConfigError(f"tenant act {name!r}: role must be one of {ROLES} or empty")
        if d.refit:
            if name not in builtin:
                raise ConfigError(f"act {name!r} is refitted but is not a built-in act; "
                                  f"built-in acts: {', '.join(builtin)}")
            if not set(d.positives) | set(d.negatives):
                raise ConfigError(f"refit of act {name!r} needs at least one example or "
                                  "counter-example")
            continue
        if not name or name in builtin:
            raise ConfigError(f"tenant act id {name!r} is empty or reuses a built-in act id")
        if len(set(d.positives)) < 2:
            raise ConfigError(f"tenant act {name!r} needs at least two distinct positive "
                              "example sentences")


def _refits_then_new(defs: Mapping[str, TenantActExamples]) -> dict[str, TenantActExamples]:
    """``defs`` in the row order of their fitted heads: refits first, then new acts."""
    return {**{n: d for n, d in defs.items() if d.refit},
            **{n: d for n, d in defs.items() if not d.refit}}


def default_heads_cache() -> Path:
    """Where fitted tenant, rubric and refitted heads are kept between processes."""
    from qa_pipeline.weights import models_dir

    return models_dir() / "cache" / "act-heads"


def heads_sha256(heads: ActHeads, background: np.ndarray | None, embedder_id: str) -> str:
    """sha256 of act heads' arrays (as float32), acts and roles, of the background sentence
    vectors and of the encoder id: the built-in weights' identity in fitted heads' cache keys.
    """
    digest = hashlib.sha256(json.dumps(
        [list(heads.acts), [r or "" for r in heads.roles], embedder_id]).encode())
    for array in (heads.weight, heads.bias, heads.calibration_scale, heads.calibration_offset,
                  heads.thresholds):
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    digest.update(b"background")
    if background is not None:
        digest.update(np.ascontiguousarray(background, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _tenant_key(base_model_id: str, base_sha256: str,
                defs: Mapping[str, TenantActExamples]) -> str:
    fit = [FIT_VERSION, TENANT_INVERSE_REGULARISATION, TENANT_NEGATIVE_WEIGHT,
           *REFIT_PENALTIES, REFIT_ANCHOR_WEIGHT]
    # The base's weights digest, not only its id: heads fitted on other built-in weights
    # (a retrained model, another model under the same id) are never read back.
    payload = {"base": base_model_id, "base_sha256": base_sha256, "fit": fit,
               "acts": [[name, list(d.positives), list(d.negatives), d.role, d.refit]
                        for name, d in defs.items()]}
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


class _LRU:
    """Small thread-safe least-recently-used map of fitted tenant heads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, ActHeads] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> ActHeads | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: str, value: ActHeads) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_TENANT_CACHE = _LRU(TENANT_CACHE_SIZE)


def _save_tenant_heads(path: Path, heads: ActHeads) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: concurrent workers never read a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    np.savez(tmp, acts=np.array(heads.acts), weight=heads.weight, bias=heads.bias,
             calibration_scale=heads.calibration_scale,
             calibration_offset=heads.calibration_offset, thresholds=heads.thresholds,
             roles=np.array([r or "" for r in heads.roles]))
    os.replace(tmp, path)


def _load_tenant_heads(path: Path, acts: tuple[str, ...]) -> ActHeads | None:
    try:
        with np.load(path) as data:
            heads = ActHeads(
                acts=tuple(str(a) for a in data["acts"]), weight=data["weight"],
                bias=data["bias"], calibration_scale=data["calibration_scale"],
                calibration_offset=data["calibration_offset"], thresholds=data["thresholds"],
                roles=tuple(str(r) or None for r in data["roles"]))
    except (OSError, KeyError, ValueError, ModelUnavailableError):
        return None  # a damaged cache entry is refitted and overwritten
    return heads if heads.acts == acts else None


def load_act_model(path: Path = WEIGHTS_PATH,
                   embedder_factory: Callable[[], Embedder] = default_embedder) -> ActModel:
    """Load act heads written by ``python -m qa_pipeline.acts.train`` (with ``--lexical``:
    the embedding + character n-gram ensemble; a file without the lexical arrays loads as
    an embedding-only model).

    Raises:
        ModelUnavailableError: the file is missing or malformed.
    """
    lexical: LexicalHeads | None = None
    embedding_only: ActHeads | None = None
    try:
        with np.load(path) as data:
            acts = tuple(str(a) for a in data["acts"])
            heads = ActHeads(
                acts=acts, weight=data["weight"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
                calibration_scale=data["calibration_scale"].astype(np.float32),
                calibration_offset=data["calibration_offset"].astype(np.float32),
                thresholds=data["thresholds"].astype(np.float32),
                roles=(None,) * len(acts))
            embedder_id = str(data["embedder_id"])
            background = data["background"].astype(np.float32)
            if "lex_vocabulary" in data.files:
                low, high = (int(v) for v in data["lex_ngram_range"])
                lexical = LexicalHeads(
                    vocabulary=tuple(str(g) for g in data["lex_vocabulary"]),
                    idf=data["lex_idf"].astype(np.float64),
                    weight=data["lex_weight"].astype(np.float32),
                    bias=data["lex_bias"].astype(np.float32),
                    mix=float(data["lex_mix"]), ngram_range=(low, high))
                embedding_only = ActHeads(
                    acts=acts, weight=heads.weight, bias=heads.bias,
                    calibration_scale=data["emb_calibration_scale"].astype(np.float32),
                    calibration_offset=data["emb_calibration_offset"].astype(np.float32),
                    thresholds=data["emb_thresholds"].astype(np.float32),
                    roles=(None,) * len(acts))
    except (OSError, KeyError, ValueError) as e:
        raise ModelUnavailableError(
            f"act heads {path} are missing or malformed; rebuild them with "
            f"`python -m qa_pipeline.acts.train"
            f"{' --lexical' if path.name == LEXICAL_WEIGHTS_PATH.name else ''}`") from e
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    name = MODEL_NAME if lexical is None else LEXICAL_MODEL_NAME
    return ActModel(heads, model_id=f"{name}@{digest}", embedder_id=embedder_id,
                    background=background, embedder_factory=embedder_factory,
                    lexical=lexical, embedding_only=embedding_only)


def embedded_act_model_path() -> Path:
    """The act weights the pipeline loads: the packaged file, or the file the ``act_model``
    setting names (``$QA_PIPELINE_ACT_MODEL``: the embedding-only ``acts_e5small_head.npz``,
    or a candidate model to evaluate without changing the default).
    """
    from qa_pipeline.settings import get_settings

    chosen = get_settings().act_model
    return chosen if chosen is not None else WEIGHTS_PATH


@lru_cache(maxsize=1)
def load_embedded_act_model() -> ActModel:
    """The packaged act model, or the one :func:`embedded_act_model_path` names (offline;
    loaded once per process).
    """
    model = load_act_model(embedded_act_model_path())
    if model.acts != ACTS:
        raise ModelUnavailableError(f"packaged act heads cover {model.acts}, expected {ACTS}")
    return model


def use_act_model(path: Path | None) -> str:
    """Make ``path`` (if given) the act model every stage of this process loads (the
    ``act_model`` setting, as ``$QA_PIPELINE_ACT_MODEL`` would), for evaluating a candidate
    model; returns the id of the model scoring will use.
    """
    from qa_pipeline.settings import configure

    if path is not None:
        configure(act_model=path.resolve())
        load_embedded_act_model.cache_clear()
    return load_embedded_act_model().model_id


def weights_card(path: Path = WEIGHTS_PATH) -> dict[str, Any]:
    """The training record written next to the weights (acts, corpus hash, thresholds, scores)."""
    card = path.with_suffix(".json")
    data: dict[str, Any] = json.loads(card.read_text(encoding="utf-8")) if card.exists() else {}
    return data


def clear_tenant_cache() -> None:
    """Forget the in-process tenant heads (tests; a long-lived worker after a rubric change)."""
    _TENANT_CACHE.clear()
