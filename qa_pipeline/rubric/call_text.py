"""CallText: a call's normalised utterances laid out once for call-level matching.

Rules ask "which of these utterances match this phrase list?" many times per call. Answering
per utterance costs a Python round trip each; answering over one joined string (exact and
pinyin phrases of a whole rubric: one automaton scan each, see
:mod:`~qa_pipeline.rubric.phrase_index`; fuzzy: one alignment per phrase) costs a few C calls.
This object holds the shared layout: the joined text, where each utterance starts, and the
call's syllable ids.
"""

from __future__ import annotations

import bisect
from functools import cached_property

import numpy as np

from qa_pipeline.rubric.matching import SEPARATOR, is_chinese, syllable_codes, syllable_ids
from qa_pipeline.text import normalize_many


class CallText:
    """Normalised utterances of one call, joined by :data:`SEPARATOR`."""

    def __init__(self, texts: tuple[str, ...]) -> None:
        self.normalized = normalize_many(texts)
        self.offsets: list[int] = []
        position = 0
        for text in self.normalized:
            self.offsets.append(position)
            position += len(text) + len(SEPARATOR)
        self.joined = SEPARATOR.join(self.normalized)

    def utterance_at(self, position: int) -> int:
        """Index of the utterance that holds character ``position`` of :attr:`joined`."""
        return bisect.bisect_right(self.offsets, position) - 1

    def end_of(self, index: int) -> int:
        """Position just after utterance ``index`` in :attr:`joined`."""
        return self.offsets[index] + len(self.normalized[index])

    @cached_property
    def chinese(self) -> tuple[bool, ...]:
        """Per utterance: whether it holds Han characters (pinyin applies only there)."""
        return tuple(is_chinese(t) for t in self.normalized)

    @cached_property
    def syllables(self) -> list[int]:
        """Syllable id per character of :attr:`joined` (the separator has its own id)."""
        return self._syllable_array.tolist()  # type: ignore[no-any-return]

    @cached_property
    def syllable_codes(self) -> str:
        """:attr:`syllables` as a string, one character per syllable id
        (:func:`~qa_pipeline.rubric.matching.syllable_codes`), for automaton scans.
        """
        return syllable_codes(self._syllable_array)

    @cached_property
    def _syllable_array(self) -> np.ndarray:
        return syllable_ids(self.joined)
