"""The per-character, per-word, per-occurrence and per-window loops of rubric evaluation.

Every call runs these loops over its characters, words, phrase occurrences and pinyin windows;
in Python they cost a bytecode round trip per element. ``qa_pipeline/_kernels.c``
implements each of them in C (built by ``pip install`` when a C compiler is present). The
functions below are the definitions: the compiled versions must return equal results, and
tests check that they do on random inputs. The library uses the compiled kernels when the
extension is importable, unless ``QA_PIPELINE_PURE_PYTHON=1`` asks for these twins (for
debugging, and to measure the two side by side).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import operator
from collections import Counter
from collections.abc import Callable, Container, Sequence
from typing import TypeVar

import numpy as np

from qa_pipeline.settings import get_settings
from qa_pipeline.types import Evidence, MatchHit, Utterance, Word

__all__ = ["NATIVE", "best_quote", "code_bytes", "constructor", "covered_mean", "drop_flagged",
           "first_exact_hits", "frozen_new", "may_reach", "mean_confidence", "pinyin_windows",
           "quote", "quoter", "reachable", "scan_flags", "squeeze_words", "squeezed_words",
           "word_stats"]

_WORD_PROBABILITY = operator.attrgetter("word_probability")
_ROLE_CONFIDENCE = operator.attrgetter("role_confidence")

# Bytes of [a-z0-9] (in UTF-8 no other character holds them).
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")

T = TypeVar("T")
Match = tuple[int, int, int]  # (automaton key, start, end), as ahocorasick_rs reports them


def py_covered_mean(words: Sequence[Word], target: str, forms: dict[str, str],
                    form_of: Callable[[str], str]) -> float | None:
    """Mean probability of the words whose compact form (non-empty) occurs in ``target``;
    None when no word does. ``forms`` caches ``form_of(word.text)``.
    """
    covered = []
    for w in words:
        form = forms.get(w.text)
        if form is None:
            form = forms[w.text] = form_of(w.text)
        if form and form in target:
            covered.append(w.probability)
    return sum(covered) / len(covered) if covered else None


def py_word_stats(utterances: Sequence[Utterance]
                  ) -> tuple[list[float], list[int], list[float]]:
    """Per utterance: sum of its word probabilities, its word count, its role confidence."""
    return ([sum(w.probability for w in u.words) for u in utterances],
            [len(u.words) for u in utterances], [u.role_confidence for u in utterances])


def py_best_quote(evidence: Sequence[Evidence]) -> tuple[float, float] | None:
    """(highest word probability, highest role confidence) among the evidence that quotes an
    utterance (``utterance_index >= 0``); None when none does.
    """
    quoted = [e for e in evidence if e.utterance_index >= 0]
    if not quoted:
        return None
    return (max(map(_WORD_PROBABILITY, quoted)), max(map(_ROLE_CONFIDENCE, quoted)))


def py_mean_confidence(considered: tuple[int, ...], sums: list[float], counts: list[int],
                       roles: list[float]) -> tuple[float, float] | None:
    """(mean word probability, lowest role confidence) over the utterances ``considered``
    (indices out of range ignored), from :func:`py_word_stats`' lists; None when none of them
    is in range.
    """
    valid = [i for i in considered if 0 <= i < len(sums)]
    if not valid:
        return None
    n_words = sum(counts[i] for i in valid)
    return (sum(sums[i] for i in valid) / n_words if n_words else 1.0,
            min(roles[i] for i in valid))


def py_first_exact_hits(matches: Sequence[Match], text: bytes, bounded: Sequence[bool],
                        rank: Sequence[int], offsets: Sequence[int],
                        by_rank: Sequence[tuple[str, tuple[int, ...]]], slots: int
                        ) -> list[dict[int, str]]:
    """Per slot: utterance index -> phrase of the first of its phrases' occurrences there.

    ``matches`` are occurrences of phrases (by key) in ``text``, the call's UTF-8 bytes whose
    utterances start at ``offsets``. An occurrence of a ``bounded`` phrase counts only on
    word boundaries (no [a-z0-9] byte either side). Occurrences rank by start, then by the
    phrase's ``rank``; ``by_rank[rank]`` is (phrase, slots owning it).
    """
    size = len(text)
    n = len(rank)
    # One integer per occurrence, start * n + rank: sorting them ranks the occurrences.
    found = [start * n + rank[key] for key, start, end in matches
             if not (bounded[key] and ((start and text[start - 1] in _WORD_BYTES) or (
                 end < size and text[end] in _WORD_BYTES)))]
    found.sort(reverse=True)  # the first occurrence per utterance is written last
    per_slot: list[dict[int, str]] = [{} for _ in range(slots)]
    for code in found:
        start, r = divmod(code, n)
        index = bisect.bisect_right(offsets, start) - 1
        phrase, owners = by_rank[r]
        for slot in owners:
            per_slot[slot][index] = phrase
    return per_slot


def py_pinyin_windows(matches: Sequence[Match], width: int,
                      entries: Sequence[tuple[tuple[int, int], ...]], lengths: Sequence[int],
                      offsets: Sequence[int], ends: Sequence[int], chinese: Sequence[bool],
                      skips: Sequence[Container[int]]) -> list[list[tuple[int, int]]]:
    """Per bucket: (utterance index, window start), sorted by start, of the windows worth
    scoring.

    ``matches`` are occurrences of syllable sequences (by key) in the call's syllable ids,
    ``width`` bytes each; one not on a syllable boundary is dropped. ``entries[key]`` names
    the (bucket, back) whose window starts ``back`` syllables before the occurrence's last
    one. A window counts once, inside one Chinese utterance (``offsets`` / ``ends``), of
    ``lengths[bucket]`` syllables, in an utterance not in ``skips[bucket]``.
    """
    starts: list[list[int]] = [[] for _ in lengths]
    for key, start, end in matches:
        if start % width:
            continue  # straddles two syllable ids
        last = end // width - 1  # position of the occurrence's last syllable
        for bucket, back in entries[key]:
            starts[bucket].append(last - back)
    out: list[list[tuple[int, int]]] = []
    for bucket_starts, length, skip in zip(starts, lengths, skips, strict=True):
        windows = []
        for start in sorted(set(bucket_starts)):
            i = bisect.bisect_right(offsets, start) - 1  # the utterance holding start
            # (i < 0: a long phrase's second piece found where the first cannot fit)
            if i >= 0 and start + length <= ends[i] and chinese[i] and i not in skip:
                windows.append((i, start))
        out.append(windows)
    return out


def py_scan_flags(text: str, table: np.ndarray, separator: str, part_flag: int,
                  position_flag: int) -> tuple[int, list[bool], list[int]] | None:
    """(union of the flags of ``text``'s characters, per part between the ``separator``
    characters whether one of its characters has ``part_flag``, positions of the characters with
    ``position_flag``), from ``table`` (one flags byte per code point); None when a
    character's entry is 0 (not looked at yet: the caller fills it in and asks again).
    """
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    flags = table[cps]
    if not flags.all():
        return None
    marked = np.concatenate(([0], np.cumsum((flags & part_flag) != 0, dtype=np.int64)))
    ends = np.append(np.flatnonzero(cps == ord(separator)), len(cps))
    starts = np.concatenate(([0], ends[:-1] + 1))
    return (int(np.bitwise_or.reduce(flags)) if len(flags) else 0,
            (marked[ends] > marked[starts]).tolist(),
            np.flatnonzero(flags & position_flag).tolist())


def py_drop_flagged(text: str, table: np.ndarray, flag: int) -> str | None:
    """``text`` without the characters whose ``table`` entry has ``flag``; None when a
    character's entry is 0 (see :func:`py_scan_flags`).
    """
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    flags = table[cps]
    if not flags.all():
        return None
    kept: bytes = cps[(flags & flag) == 0].tobytes()
    return kept.decode("utf-32-le", "surrogatepass")


def py_code_bytes(text: str, table: np.ndarray, width: int) -> bytes | None:
    """``table``'s value (a uint32 per code point) for each character of ``text``, as
    little-endian integers of ``width`` bytes (2 or 4); None when a character's entry is 0.
    """
    if width not in (2, 4):
        raise TypeError("code_bytes: text must be str, width 2 or 4")
    values = table[np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)]
    if not values.all():
        return None
    if width == 2 and len(values) and values.max() > 0xFFFF:
        raise ValueError("code_bytes: a value does not fit in 2 bytes")
    return values.astype("<u2" if width == 2 else "<u4").tobytes()


def may_reach(phrase: str, text: str, bound: float) -> bool:
    """False when no window that ``rapidfuzz.fuzz.partial_ratio`` aligns ``phrase`` with in
    ``text`` can score ``bound`` (percent); True when one may (or when the phrase is empty,
    longer than 64 characters, or not shorter than the text: not bounded here).

    partial_ratio scores the prefixes ``text[:i]`` and suffixes ``text[-i:]`` (0 < i < m,
    ``m = len(phrase)``) and every window ``text[i:i + m]`` by ``200 * LCS / (m + len)``.
    The longest common subsequence never exceeds the characters the two share (counted
    with multiplicity), which a sliding window counts in one pass: most phrases share too
    few characters with any stretch of a call to pass, and then the alignment is skipped.
    """
    m, n = len(phrase), len(text)
    if m == 0 or m > 64 or n <= m:
        return True
    # need[i]: the fewest shared characters with which a window of length i scores
    # 200 * shared / (m + i) >= bound (m + 1: none can).
    reach = bound - 1e-9
    need = [next((s for s in range(i + 1) if 200.0 * s / (m + i) >= reach), m + 1)
            for i in range(m + 1)]
    wanted = Counter(phrase)
    for piece in (text, text[::-1]):  # prefixes, then suffixes
        have: Counter[str] = Counter()
        shared = 0
        for i in range(1, m):
            c = piece[i - 1]
            if have[c] < wanted[c]:
                shared += 1
            have[c] += 1
            if shared >= need[i]:
                return True
    have = Counter()
    shared = 0
    for i, c in enumerate(text):
        if have[c] < wanted[c]:
            shared += 1
        have[c] += 1
        if i >= m:
            gone = text[i - m]
            have[gone] -= 1
            if have[gone] < wanted[gone]:
                shared -= 1
        if i >= m - 1 and shared >= need[m]:
            return True
    return False


def py_reachable(phrase: str, texts: list[str], bound: float, min_length: int) -> list[int]:
    """Positions of ``texts`` at least ``min_length`` characters long for which
    :func:`may_reach` holds: the texts in which ``phrase`` may align at ``bound``.
    """
    return [k for k, text in enumerate(texts)
            if len(text) >= min_length and may_reach(phrase, text, bound)]


def squeezed_words(text: str, separator: str, vocabulary: tuple[str, ...]
                   ) -> tuple[list[str], bool]:
    """(each ``separator``-delimited part of ``text`` with its words joined by one space,
    whether a whitespace-delimited word of ``text`` is in ``vocabulary``), for any text
    (whitespace as ``str.split()`` knows it): the definition of :func:`squeeze_words`, which
    takes ASCII text only.
    """
    words = text.split()
    if separator.isspace():
        parts = [" ".join(part.split()) for part in text.split(separator)]
    else:  # the same, faster: one split of the whole text (no whitespace run spans a separator)
        parts = [part.strip() for part in " ".join(words).split(separator)]
    return parts, not frozenset(vocabulary).isdisjoint(words)


def py_squeeze_words(text: str, separator: str, vocabulary: tuple[str, ...]
                     ) -> tuple[list[str], bool]:
    """:func:`squeezed_words` for ASCII text (ValueError otherwise, as the compiled kernel)."""
    if not isinstance(separator, str) or len(separator) != 1:
        raise TypeError("squeeze_words: a one-character separator")
    if not text.isascii():
        raise ValueError("squeeze_words: ASCII text only")
    return squeezed_words(text, separator, vocabulary)


def py_frozen_new(cls: type[T], names: tuple[str, ...], *values: object) -> T:
    """A new ``cls`` with each field of ``names`` set to its value, as ``object.__new__``
    and ``object.__setattr__`` set them (no ``__init__`` runs: for frozen dataclasses
    without ``__post_init__``, whose generated ``__init__`` does only this, slowly).
    """
    if len(names) != len(values):
        raise ValueError(f"frozen_new: {len(names)} names but {len(values)} values")
    obj = object.__new__(cls)
    for name, value in zip(names, values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


def py_quote(cls: type[T], names: tuple[str, ...], forms: dict[str, str],
             form_of: Callable[[str], str], utterance: Utterance, hit: MatchHit | None,
             note: str) -> T:
    """``cls(...)`` quoting ``utterance``: its index, role, start_s, end_s and text, a word
    probability, its role_confidence, ``hit`` and ``note`` (``names``: the fields of
    ``cls``, which the compiled kernel sets one by one as :func:`frozen_new` does).

    The word probability is :func:`py_covered_mean` of the words that the hit's matched text
    (spaces removed) covers; without a hit, a matched text or a covered word, the
    utterance's mean word probability.
    """
    probability = None
    if hit is not None and hit.matched_text:
        probability = py_covered_mean(utterance.words, hit.matched_text.replace(" ", ""),
                                      forms, form_of)
    if probability is None:
        probability = utterance.mean_word_probability
    return cls(utterance.index, utterance.role, utterance.start_s,  # type: ignore[call-arg]
               utterance.end_s, utterance.text, probability, utterance.role_confidence, hit,
               note)


# Imported under its stub's types (_kernels.pyi), so every kernel chosen below is typed.
try:
    if get_settings().pure_python:
        raise ImportError("QA_PIPELINE_PURE_PYTHON asks for the pure-Python twins")
    from qa_pipeline import _kernels as _native
except ImportError:  # not built (no C compiler at install time), or not wanted
    _native = None  # type: ignore[assignment]
#: Whether the compiled kernels are in use.
NATIVE: bool = _native is not None

covered_mean = _native.covered_mean if _native is not None else py_covered_mean
word_stats = _native.word_stats if _native is not None else py_word_stats
first_exact_hits = _native.first_exact_hits if _native is not None else py_first_exact_hits
pinyin_windows = _native.pinyin_windows if _native is not None else py_pinyin_windows
scan_flags = _native.scan_flags if _native is not None else py_scan_flags
drop_flagged = _native.drop_flagged if _native is not None else py_drop_flagged
frozen_new = _native.frozen_new if _native is not None else py_frozen_new
reachable = _native.reachable if _native is not None else py_reachable
quote = _native.quote if _native is not None else py_quote
squeeze_words = _native.squeeze_words if _native is not None else py_squeeze_words
code_bytes = _native.code_bytes if _native is not None else py_code_bytes
best_quote = _native.best_quote if _native is not None else py_best_quote
mean_confidence = _native.mean_confidence if _native is not None else py_mean_confidence


def _fields(cls: type[T]) -> tuple[str, ...]:
    """The field names of a frozen dataclass that the compiled kernels may build."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: only dataclasses without __post_init__")
    return tuple(f.name for f in dataclasses.fields(cls))


def constructor(cls: type[T]) -> Callable[..., T]:
    """``cls(*values)`` for a frozen dataclass without ``__post_init__``: compiled, built by
    :func:`frozen_new` (a fifth of the generated ``__init__``'s cost); otherwise ``cls``
    itself (its ``__init__`` does the same, faster than the twin). Every field must be
    given, in declaration order.
    """
    names = _fields(cls)
    if _native is None:
        return cls
    return functools.partial(_native.frozen_new, cls, names)


def quoter(cls: type[T], forms: dict[str, str], form_of: Callable[[str], str]
           ) -> Callable[[Utterance, MatchHit | None, str], T]:
    """:func:`quote` with its class (a frozen dataclass without ``__post_init__`` whose nine
    fields are those of :class:`~qa_pipeline.types.Evidence`) and word-form cache bound:
    ``(utterance, hit, note) -> cls``.
    """
    names = _fields(cls)
    if len(names) != 9:
        raise TypeError(f"{cls.__name__}: a quote has 9 fields, not {len(names)}")
    return functools.partial(quote, cls, names, forms, form_of)
