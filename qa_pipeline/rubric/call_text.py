"""CallText: a call's normalised utterances laid out once for call-level matching.

Rules ask "which of these utterances match this phrase list?" many times per call. Answering
per utterance costs a Python round trip each; answering over one joined string (exact and
pinyin phrases of a whole rubric: one automaton scan each, see
:mod:`~qa_pipeline.rubric.phrase_index`; fuzzy: one alignment per phrase) costs a few C calls.
This object holds the shared layout: the joined text, where each utterance starts, and the
call's syllable ids.
"""

from __future__ import annotations

import array
import sys
from collections.abc import Sequence
from functools import cached_property
from typing import Literal

import numpy as np

from qa_pipeline.rubric.matching import SEPARATOR, syllable_codes
from qa_pipeline.text import chinese_parts, normalize_many


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

    @cached_property
    def ends(self) -> list[int]:
        """Per utterance: the position just after it in :attr:`joined`."""
        return [start + len(text) for start, text in zip(self.offsets, self.normalized,
                                                          strict=True)]

    @cached_property
    def chinese(self) -> tuple[bool, ...]:
        """Per utterance: whether it holds Han characters (pinyin applies only there)."""
        return tuple(chinese_parts(self.joined, SEPARATOR))

    @cached_property
    def syllables(self) -> Sequence[int]:
        """Syllable id per character of :attr:`joined` (the separator has its own id)."""
        codes, width = self.syllable_codes
        kind: Literal["H", "I"] = "H" if width == 2 else "I"
        if sys.byteorder == "little":
            return memoryview(codes).cast(kind)  # read in place, an int per item asked for
        swapped = array.array(kind, codes)
        swapped.byteswap()
        return swapped

    @cached_property
    def syllable_codes(self) -> tuple[bytes, int]:
        """(:attr:`syllables` as little-endian integers, their width in bytes: 2 or 4), for
        byte-level automaton scans (see :func:`~qa_pipeline.rubric.matching.syllable_codes`).
        """
        return syllable_codes(self.joined)

    @cached_property
    def utf8(self) -> bytes:
        """:attr:`joined` in UTF-8, for byte-level automaton scans."""
        return self.joined.encode("utf-8", "surrogatepass")

    @cached_property
    def utf8_offsets(self) -> list[int]:
        """Where each utterance starts in :attr:`utf8` (the separator is one byte, found
        nowhere else: normalised text holds no control character).
        """
        if self.joined.isascii():  # one byte per character: the character offsets
            return self.offsets
        separators = np.flatnonzero(np.frombuffer(self.utf8, dtype=np.uint8) == ord(SEPARATOR))
        return [0, *(separators + 1).tolist()]
