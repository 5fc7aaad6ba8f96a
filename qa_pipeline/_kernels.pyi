# Signatures of the compiled kernels (_kernels.c); their definitions are the pure-Python
# twins in kernels.py.
from collections.abc import Callable, Container, Sequence
from typing import TypeVar

import numpy as np

from qa_pipeline.types import Utterance, Word

T = TypeVar("T")

def covered_mean(words: Sequence[Word], target: str, forms: dict[str, str],
                 form_of: Callable[[str], str], /) -> float | None: ...
def word_stats(utterances: Sequence[Utterance], /
               ) -> tuple[list[float], list[int], list[float]]: ...
def first_exact_hits(matches: Sequence[tuple[int, int, int]], text: bytes,
                     bounded: Sequence[bool], rank: Sequence[int], offsets: Sequence[int],
                     by_rank: Sequence[tuple[str, tuple[int, ...]]], slots: int, /
                     ) -> list[dict[int, str]]: ...
def pinyin_windows(matches: Sequence[tuple[int, int, int]], width: int,
                   entries: Sequence[tuple[tuple[int, int], ...]], lengths: Sequence[int],
                   offsets: Sequence[int], ends: Sequence[int], chinese: Sequence[bool],
                   skips: Sequence[Container[int]], /) -> list[list[tuple[int, int]]]: ...
def scan_flags(text: str, table: np.ndarray, separator: str, part_flag: int,
               position_flag: int, /) -> tuple[int, list[bool], list[int]] | None: ...
def drop_flagged(text: str, table: np.ndarray, flag: int, /) -> str | None: ...
def frozen_new(cls: type[T], names: tuple[str, ...], *values: object) -> T: ...
def may_reach(phrase: str, text: str, bound: float, /) -> bool: ...
