"""Spectral clustering of speaker embeddings with eigengap speaker counting."""

from __future__ import annotations

import numpy as np


def _affinity(embeddings: np.ndarray, prune_keep: float) -> np.ndarray:
    """Cosine affinity, row-pruned to the strongest neighbours, symmetrised."""
    norm = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-8)
    sim = np.clip(norm @ norm.T, 0.0, 1.0)
    n = sim.shape[0]
    keep = max(2, int(np.ceil(prune_keep * n)))
    if keep < n:
        # Zero all but the ``keep`` largest entries of each row (noise suppression).
        thresh = np.partition(sim, n - keep, axis=1)[:, n - keep][:, None]
        sim = np.where(sim >= thresh, sim, 0.0)
    sym: np.ndarray = 0.5 * (sim + sim.T)
    np.fill_diagonal(sym, 1.0)
    return sym


def _spectral_embedding(aff: np.ndarray, max_k: int) -> tuple[np.ndarray, np.ndarray]:
    deg = aff.sum(axis=1)
    d_inv_sqrt = 1.0 / np.sqrt(np.maximum(deg, 1e-10))
    lap = np.eye(aff.shape[0]) - d_inv_sqrt[:, None] * aff * d_inv_sqrt[None, :]
    vals, vecs = np.linalg.eigh(lap)
    return vals[: max_k + 1], vecs[:, :max_k]


def cluster_embeddings(
    embeddings: np.ndarray,
    num_speakers: int | None = None,
    min_speakers: int = 1,
    max_speakers: int = 8,
    prune_keep: float = 0.3,
    seed: int = 0,
) -> np.ndarray:
    """Label each embedding with a speaker index 0..k-1.

    With ``num_speakers`` unset, k is the largest eigengap of the normalised Laplacian within
    ``[min_speakers, max_speakers]``.
    """
    from sklearn.cluster import KMeans

    n = embeddings.shape[0]
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1:
        return np.zeros(1, dtype=int)
    upper = min(max_speakers if num_speakers is None else num_speakers, n)
    aff = _affinity(embeddings, prune_keep)
    vals, vecs = _spectral_embedding(aff, upper)
    if num_speakers is not None:
        k = min(num_speakers, n)
    else:
        lower = max(1, min_speakers)
        gaps = np.diff(vals)  # gaps[i] = vals[i+1] - vals[i] -> k = i + 1
        candidates = range(lower, upper + 1)
        k = max(candidates, key=lambda kk: gaps[kk - 1] if kk - 1 < len(gaps) else -1.0)
    if k <= 1:
        return np.zeros(n, dtype=int)
    feats = vecs[:, :k]
    feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-10)
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(feats)
    return np.asarray(labels, dtype=int)
