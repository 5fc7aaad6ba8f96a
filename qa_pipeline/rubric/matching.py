"""Phrase matching that survives ASR errors.

Matching is exact on normalised text (:func:`qa_pipeline.text.normalize`), then optionally
fuzzy (edit similarity) and, for Chinese, pinyin with merged easily-confused sounds (zh/z,
ch/c, sh/s, n/l, -ng/-n), so ASR homophones such as 克服 for 客服 or 投注 for 投诉 still match.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from qa_pipeline.text import is_chinese, normalize
from qa_pipeline.types import MatchHit

__all__ = ["MatchOptions", "is_chinese", "match_phrase", "normalize", "pinyin_syllables"]

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


@lru_cache(maxsize=65536)
def pinyin_syllables(text: str) -> tuple[str, ...]:
    """Tone-less, confusion-merged pinyin of the Han characters (other characters kept)."""
    from pypinyin import Style, lazy_pinyin

    def keep_chars(chars: str) -> Any:  # one entry per non-Han character
        return list(chars)

    out = []
    for syl in lazy_pinyin(text, style=Style.NORMAL, errors=keep_chars):
        out.append(_fuzzy_syllable(syl.lower()))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """How tolerant phrase matching is."""

    fuzzy: float | None = None  # edit similarity 0..1 (e.g. 0.85); None: exact only
    pinyin: bool = False  # homophone-tolerant matching for Chinese phrases
    # Score of a pinyin match: 1 - mismatched syllables / (2 * syllables).
    pinyin_threshold: float = 0.75


def match_phrase(phrase: str, text: str, options: MatchOptions) -> MatchHit | None:
    """Best way ``phrase`` occurs in ``text`` (both raw), or None."""
    p_norm = normalize(phrase)
    t_norm = normalize(text)
    if not p_norm or not t_norm:
        return None
    if _contains(t_norm, p_norm):
        return MatchHit(phrase, "exact", 1.0, p_norm)
    if options.fuzzy is not None:
        hit = _fuzzy(p_norm, t_norm, options.fuzzy)
        if hit:
            return MatchHit(phrase, "fuzzy", hit[0], hit[1])
    if options.pinyin and is_chinese(phrase):
        hit = _pinyin_match(phrase, text, options.pinyin_threshold)
        if hit:
            return MatchHit(phrase, "pinyin", hit[0], hit[1])
    return None


def _contains(text: str, phrase: str) -> bool:
    if is_chinese(phrase) or " " not in text:
        return phrase in text
    # English: whole-word containment ("hi" must not match "this").
    return f" {phrase} " in f" {text} "


def _fuzzy(phrase: str, text: str, threshold: float) -> tuple[float, str] | None:
    from rapidfuzz import fuzz

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
    for size in {max(1, n - 1), n, n + 1}:
        for i in range(0, max(1, len(words) - size + 1)):
            window = " ".join(words[i:i + size])
            score = fuzz.ratio(phrase, window) / 100.0
            if score >= threshold and (best is None or score > best[0]):
                best = (score, window)
    return best


def _pinyin_match(phrase: str, text: str, threshold: float) -> tuple[float, str] | None:
    """Syllable-wise pinyin match: every syllable equal after merging confusable sounds,
    except at most one (two for phrases of five or more syllables) within one edit.

    A plain similarity threshold over the whole pinyin string lets two half-matching
    syllables through (理赔给您 ~ 时内给您); counting syllables does not.
    """
    p_chars = list(normalize(phrase))
    t_chars = list(normalize(text))
    p_syl = pinyin_syllables("".join(p_chars))
    t_syl = pinyin_syllables("".join(t_chars))
    n = len(p_syl)
    if n == 0 or len(t_syl) < n:
        return None
    allowed = 0 if n == 1 else 1 if n <= 4 else 2
    best: tuple[float, int] | None = None
    for i in range(len(t_syl) - n + 1):
        mismatches = 0
        for a, b in zip(p_syl, t_syl[i:i + n], strict=True):
            if a == b:
                continue
            if _edit_distance(a, b) > 1:
                mismatches = allowed + 1
                break
            mismatches += 1
            if mismatches > allowed:
                break
        if mismatches > allowed:
            continue
        score = 1.0 - mismatches / (2 * n)
        if score >= threshold and (best is None or score > best[0]):
            best = (score, i)
    if best is None:
        return None
    # pinyin_syllables keeps one entry per character, so indices map back to characters.
    matched = "".join(t_chars[best[1]:best[1] + n]) if len(t_chars) == len(t_syl) else ""
    return best[0], matched


def _edit_distance(a: str, b: str) -> int:
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a, b))
