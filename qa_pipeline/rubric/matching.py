"""Phrase matching that survives ASR errors.

Matching is exact on normalised text (:func:`qa_pipeline.text.normalize`), then optionally
fuzzy (edit similarity) and, for Chinese, pinyin with merged easily-confused sounds (zh/z,
ch/c, sh/s, n/l, -ng/-n), so ASR homophones such as 克服 for 客服 or 投注 for 投诉 still match.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from qa_pipeline.text import is_chinese, normalize
from qa_pipeline.types import MatchHit

__all__ = [
    "CompiledMatcher", "MatchOptions", "compile_matcher", "is_chinese", "match_phrase", "normalize",
    "pinyin_syllables",
]

# --- pinyin ------------------------------------------------------------------------------------
_PINYIN_MERGES = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FINAL_MERGES = (("ang", "an"), ("eng", "en"), ("ing", "in"))


def _fuzzy_syllable(syl: str) -> str:
    for a, b in _PINYIN_MERGES:
        if syl.startswith(a):
            syl = b + syl[len(a):]
            break
    if syl.startswith("n"):
        syl = "l" + syl[1:]
    for a, b in _FINAL_MERGES:
        if syl.endswith(a):
            syl = syl[: -len(a)] + b
            break
    return syl


@cache
def _char_syllable(ch: str) -> str:
    from pypinyin import Style, lazy_pinyin

    syl = lazy_pinyin(ch, style=Style.NORMAL)
    return _fuzzy_syllable(syl[0].lower()) if syl else ch


def pinyin_syllables(text: str) -> tuple[str, ...]:
    """Tone-less, confusion-merged pinyin, one entry per character (non-Han kept as is).

    Characters are read one by one with their default reading: phrase-level segmentation
    would fix a few polyphones (银行 hang) but costs 20x more, and both the phrase and the
    utterance are read the same way, so matching stays consistent.
    """
    return tuple(_char_syllable(ch) for ch in text)


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """How tolerant phrase matching is."""

    fuzzy: float | None = None  # edit similarity 0..1 (e.g. 0.85); None: exact only
    pinyin: bool = False  # homophone-tolerant matching for Chinese phrases
    # Score of a pinyin match: 1 - mismatched syllables / (2 * syllables).
    pinyin_threshold: float = 0.75


# Joins a call's normalised utterances for one-pass scanning; no phrase can contain it.
SEPARATOR = "\x1f"


class CompiledMatcher:
    """A list of phrases and patterns compiled once and matched against many utterances.

    Exact matching runs one regular expression over the normalised text (Chinese phrases as
    substrings, other phrases on word boundaries); fuzzy and pinyin matching only run for
    phrases that pass a cheap pre-filter. Exact beats fuzzy beats pinyin beats regex.
    """

    def __init__(self, phrases: tuple[str, ...], patterns: tuple[str, ...],
                 options: MatchOptions) -> None:
        self.options = options
        self.by_norm: dict[str, str] = {}
        zh: list[str] = []
        other: list[str] = []
        for phrase in phrases:
            norm = normalize(phrase)
            if not norm:
                continue
            self.by_norm.setdefault(norm, phrase)
            (zh if is_chinese(norm) else other).append(norm)
        self.normalized_phrases = tuple(self.by_norm)
        alternatives = []
        if zh:
            alternatives.append("|".join(re.escape(p) for p in sorted(zh, key=len, reverse=True)))
        if other:
            words = "|".join(re.escape(p) for p in sorted(other, key=len, reverse=True))
            alternatives.append(rf"(?<![a-z0-9])(?:{words})(?![a-z0-9])")
        self.exact = re.compile("|".join(f"(?:{a})" for a in alternatives)) if alternatives \
            else None
        self.pinyin_phrases = tuple(
            (self.by_norm[n], n, pinyin_syllables(n)) for n in zh) if options.pinyin else ()
        self.patterns = tuple((p, re.compile(p, re.IGNORECASE)) for p in patterns)

    @property
    def tolerant(self) -> bool:
        """Whether fuzzy, pinyin or regex matching is configured."""
        return bool(self.options.fuzzy is not None or self.pinyin_phrases or self.patterns)

    def find_exact_all(self, joined: str, offsets: list[int]) -> dict[int, MatchHit]:
        """Exact hits of every utterance of a call in one regular-expression scan.

        ``joined`` is the normalised utterances separated by ``SEPARATOR``; ``offsets`` are
        their start positions in it.
        """
        hits: dict[int, MatchHit] = {}
        if self.exact is not None:
            for m in self.exact.finditer(joined):
                i = bisect.bisect_right(offsets, m.start()) - 1
                if i not in hits:
                    hits[i] = MatchHit(self.by_norm[m.group(0)], "exact", 1.0, m.group(0))
        return hits

    def find(self, text: str, normalized: str | None = None,
             syllables: tuple[str, ...] | None = None) -> MatchHit | None:
        """The best match in one utterance, or None."""
        norm = normalized if normalized is not None else normalize(text)
        if self.exact is not None and norm:
            m = self.exact.search(norm)
            if m:
                return MatchHit(self.by_norm[m.group(0)], "exact", 1.0, m.group(0))
        return self.find_tolerant(text, norm, syllables)

    def viable_pinyin(self, present: frozenset[str]) -> tuple[Any, ...]:
        """Pinyin phrases with few enough syllables missing from ``present`` to match."""
        return tuple(p for p in self.pinyin_phrases
                     if sum(1 for syl in p[2] if syl not in present)
                     <= _allowed_mismatches(len(p[2])))

    def find_tolerant(self, text: str, norm: str, syllables: tuple[str, ...] | None,
                      pinyin_phrases: tuple[Any, ...] | None = None) -> MatchHit | None:
        """Fuzzy, pinyin and regex matching (after exact matching failed)."""
        if self.options.fuzzy is not None and norm:
            cutoff = self.options.fuzzy * 100
            for p_norm in self.normalized_phrases:
                # partial_ratio bounds the window scores from above: a cheap, exact gate.
                if fuzz.partial_ratio(p_norm, norm, score_cutoff=cutoff):
                    hit = _fuzzy(p_norm, norm, self.options.fuzzy)
                    if hit:
                        return MatchHit(self.by_norm[p_norm], "fuzzy", hit[0], hit[1])
        if self.pinyin_phrases and norm and is_chinese(norm):
            text_syl = syllables if syllables is not None else pinyin_syllables(norm)
            present = set(text_syl)
            candidates = self.pinyin_phrases if pinyin_phrases is None else pinyin_phrases
            for phrase, _, p_syl in candidates:
                allowed = _allowed_mismatches(len(p_syl))
                if sum(1 for syl in p_syl if syl not in present) > allowed:
                    continue  # too many syllables absent: no window can match
                hit = _pinyin_match(p_syl, norm, text_syl, self.options.pinyin_threshold)
                if hit:
                    return MatchHit(phrase, "pinyin", hit[0], hit[1])
        for pattern, compiled in self.patterns:
            m = compiled.search(text) or compiled.search(norm)
            if m:
                return MatchHit(pattern, "regex", 1.0, m.group(0))
        return None


@lru_cache(maxsize=4096)
def compile_matcher(phrases: tuple[str, ...], patterns: tuple[str, ...] = (),
                    options: MatchOptions = MatchOptions()) -> CompiledMatcher:
    """Compiled matcher for a phrase list (cached: rubrics reuse their lists on every call)."""
    return CompiledMatcher(phrases, patterns, options)


def match_phrase(phrase: str, text: str, options: MatchOptions) -> MatchHit | None:
    """Best way ``phrase`` occurs in ``text`` (both raw), or None."""
    return compile_matcher((phrase,), (), options).find(text)


def _fuzzy(phrase: str, text: str, threshold: float) -> tuple[float, str] | None:
    if is_chinese(phrase):
        result = fuzz.partial_ratio_alignment(phrase, text)
        if result is None:
            return None
        score = result.score / 100.0
        return (score, text[result.dest_start:result.dest_end]) if score >= threshold else None
    # English: compare against word windows of the phrase's length (+-1).
    words = text.split()
    n = len(phrase.split())
    best: tuple[float, str] | None = None
    for size in sorted({max(1, n - 1), n, n + 1}):
        for i in range(0, max(1, len(words) - size + 1)):
            window = " ".join(words[i:i + size])
            score = fuzz.ratio(phrase, window) / 100.0
            if score >= threshold and (best is None or score > best[0]):
                best = (score, window)
    return best


def _allowed_mismatches(n: int) -> int:
    return 0 if n == 1 else 1 if n <= 4 else 2


def _pinyin_match(p_syl: tuple[str, ...], text_norm: str, t_syl: tuple[str, ...],
                  threshold: float) -> tuple[float, str] | None:
    """Syllable-wise pinyin match: every syllable equal after merging confusable sounds,
    except at most one (two for phrases of five or more syllables) within one edit.

    A plain similarity threshold over the whole pinyin string lets two half-matching
    syllables through (理赔给您 ~ 时内给您); counting syllables does not.
    """
    n = len(p_syl)
    if n == 0 or len(t_syl) < n:
        return None
    allowed = _allowed_mismatches(n)
    # In a two-syllable phrase one wrong syllable is half the phrase: only a confusable
    # initial with the same final counts (投诉 ~ 投注), not any one-letter change (你好 ≁ 机号).
    strict = n <= 2
    best: tuple[float, int] | None = None
    for i in range(len(t_syl) - n + 1):
        mismatches = 0
        for a, b in zip(p_syl, t_syl[i:i + n], strict=True):
            if a == b:
                continue
            mismatches += 1
            if mismatches > allowed or not _syllables_close(a, b, strict):
                mismatches = allowed + 1
                break
        if mismatches > allowed:
            continue
        score = 1.0 - mismatches / (2 * n)
        if score >= threshold and (best is None or score > best[0]):
            best = (score, i)
    if best is None:
        return None
    # pinyin_syllables keeps one entry per character, so indices map back to characters.
    matched = text_norm[best[1]:best[1] + n] if len(text_norm) == len(t_syl) else ""
    return best[0], matched


_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q",
             "x", "r", "z", "c", "s", "y", "w")
# Initials that ASR (and speakers' accents) confuse; zh/ch/sh and n are already merged away.
_CONFUSABLE = tuple(frozenset(g) for g in ("zcs", "bp", "dt", "gk", "jqx", "fh", "lr"))


@lru_cache(maxsize=8192)
def _split_syllable(syl: str) -> tuple[str, str]:
    for ini in _INITIALS:
        if syl.startswith(ini) and len(syl) > len(ini):
            return ini, syl[len(ini):]
    return "", syl


@lru_cache(maxsize=65536)
def _syllables_close(a: str, b: str, strict: bool) -> bool:
    """Whether two (merged) syllables may stand for each other in a pinyin match."""
    if not strict:
        return _edit_distance(a, b) <= 1
    ia, fa = _split_syllable(a)
    ib, fb = _split_syllable(b)
    return fa == fb and any(ia in g and ib in g for g in _CONFUSABLE)


def _edit_distance(a: str, b: str) -> int:
    return int(Levenshtein.distance(a, b))
