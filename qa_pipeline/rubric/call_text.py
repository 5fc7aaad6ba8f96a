"""CallText: a call's normalised utterances laid out once for call-level matching.

Rules ask "which of these utterances match this phrase list?" many times per call. The exact
and pinyin phrases of a whole rubric are looked for in one automaton scan of the call's joined
text (see :mod:`~qa_pipeline.rubric.phrase_index`). This object holds the shared layout: the
joined text, where each utterance starts, and the call's syllable ids.
"""

from __future__ import annotations

import itertools
from functools import cached_property

from qa_pipeline.rubric.matching import SEPARATOR, syllable_bytes, syllable_ids
from qa_pipeline.text import is_chinese, normalize


class CallText:
    """Normalised utterances of one call, joined by :data:`SEPARATOR`."""

    def __init__(self, texts: tuple[str, ...]) -> None:
        self.normalized = tuple(normalize(text) for text in texts)
        self.offsets: list[int] = list(itertools.accumulate(
            (len(text) + len(SEPARATOR) for text in self.normalized[:-1]), initial=0)
        ) if self.normalized else []
        self.joined = SEPARATOR.join(self.normalized)

    @cached_property
    def ends(self) -> list[int]:
        """Per utterance: the position just after it in :attr:`joined`."""
        return [start + len(text) for start, text in zip(self.offsets, self.normalized,
                                                          strict=True)]

    @cached_property
    def chinese(self) -> tuple[bool, ...]:
        """Per utterance: whether it holds Han characters (pinyin applies only there)."""
        return tuple(is_chinese(text) for text in self.normalized)

    @cached_property
    def syllables(self) -> list[int]:
        """Syllable id per character of :attr:`joined` (the separator has its own id)."""
        return syllable_ids(self.joined)

    @cached_property
    def syllable_codes(self) -> bytes:
        """:attr:`syllables` as :func:`~qa_pipeline.rubric.matching.syllable_bytes`, for
        byte-level automaton scans.
        """
        return syllable_bytes(self.syllables)

    @cached_property
    def utf8(self) -> bytes:
        """:attr:`joined` in UTF-8, for byte-level automaton scans."""
        return self.joined.encode("utf-8", "surrogatepass")

    @cached_property
    def utf8_offsets(self) -> list[int]:
        """Where each utterance starts in :attr:`utf8`."""
        return list(itertools.accumulate(
            (len(text.encode("utf-8", "surrogatepass")) + len(SEPARATOR)
             for text in self.normalized[:-1]), initial=0)) if self.normalized else []
