"""Accuracy metrics of the evaluation harness: DER, WER / CER, role accuracy, P/R/F1.

Every function is pure (numbers in, numbers out) and unit-tested against hand-computed
cases; DER is also checked against ``pyannote.metrics`` in the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from qa_pipeline.text import is_chinese, normalize

Turn = tuple[float, float, str]
"""(start_s, end_s, label): one reference or hypothesis speaker turn."""
Region = tuple[float, float]


# --- diarization error rate ----------------------------------------------------------------
@dataclass(frozen=True)
class DiarizationScore:
    """DER and its components in seconds (pyannote.metrics' definitions)."""

    missed_s: float
    false_alarm_s: float
    confusion_s: float
    total_s: float

    @property
    def der(self) -> float:
        """(missed + false alarm + confusion) / reference speech."""
        if self.total_s == 0.0:
            return 0.0 if self.missed_s + self.false_alarm_s + self.confusion_s == 0 else 1.0
        return (self.missed_s + self.false_alarm_s + self.confusion_s) / self.total_s

    def __add__(self, other: DiarizationScore) -> DiarizationScore:
        return DiarizationScore(self.missed_s + other.missed_s,
                                self.false_alarm_s + other.false_alarm_s,
                                self.confusion_s + other.confusion_s,
                                self.total_s + other.total_s)

    def to_dict(self) -> dict[str, float]:
        """JSON form with the rate and each component as a share of reference speech."""
        t = self.total_s or 1.0
        return {"der": self.der, "missed": self.missed_s / t,
                "false_alarm": self.false_alarm_s / t, "confusion": self.confusion_s / t,
                **{k: round(v, 4) for k, v in asdict(self).items()}}


def _subtract(regions: list[Region], holes: list[Region]) -> list[Region]:
    """``regions`` minus the union of ``holes`` (both as (start, end) lists)."""
    out = []
    holes = sorted(holes)
    for start, end in sorted(regions):
        cursor = start
        for h0, h1 in holes:
            if h1 <= cursor or h0 >= end:
                continue
            if h0 > cursor:
                out.append((cursor, h0))
            cursor = max(cursor, h1)
        if cursor < end:
            out.append((cursor, end))
    return out


def evaluation_regions(reference: Sequence[Turn], hypothesis: Sequence[Turn], *,
                       collar_s: float = 0.0, skip_overlap: bool = False,
                       uem: Sequence[Region] | None = None) -> list[Region]:
    """Where DER is counted: the UEM (default: from the earliest to the latest turn of
    either side), minus a collar of ``collar_s`` centred on every reference boundary (half
    before, half after, as pyannote.metrics does) and, with ``skip_overlap``, minus regions
    where the reference has several speakers at once.
    """
    if uem is None:
        turns = list(reference) + list(hypothesis)
        if not turns:
            return []
        uem = [(min(t[0] for t in turns), max(t[1] for t in turns))]
    holes: list[Region] = []
    if collar_s > 0:
        for start, end, _ in reference:
            holes += [(start - collar_s / 2, start + collar_s / 2),
                      (end - collar_s / 2, end + collar_s / 2)]
    if skip_overlap:
        ref = sorted(reference)
        for i, (s1, e1, l1) in enumerate(ref):
            for s2, e2, l2 in ref[i + 1:]:
                if s2 >= e1:
                    break
                if (s1, e1, l1) != (s2, e2, l2):
                    holes.append((s2, min(e1, e2)))
    return _subtract([(float(a), float(b)) for a, b in uem if b > a], holes)


def _activity(turns: Sequence[Turn], mids: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Boolean matrix labels x pieces: which label speaks in each piece."""
    index = {lab: i for i, lab in enumerate(labels)}
    active = np.zeros((len(labels), len(mids)), dtype=bool)
    for start, end, label in turns:
        lo, hi = np.searchsorted(mids, [start, end])
        active[index[label], lo:hi] = True
    return active


def diarization_error(reference: Sequence[Turn], hypothesis: Sequence[Turn], *,
                      collar_s: float = 0.0, skip_overlap: bool = False,
                      uem: Sequence[Region] | None = None) -> DiarizationScore:
    """Diarization error rate with an optimal one-to-one label mapping.

    The timeline is cut at every boundary; in each piece inside the evaluation regions,
    missed = max(0, n_ref - n_hyp), false alarm = max(0, n_hyp - n_ref), confusion =
    min(n_ref, n_hyp) - n_correct, each times the piece's duration. The mapping of
    hypothesis labels to reference labels maximises the total co-occurring time (Hungarian
    algorithm), as in pyannote.metrics.
    """
    from scipy.optimize import linear_sum_assignment

    regions = evaluation_regions(reference, hypothesis, collar_s=collar_s,
                                 skip_overlap=skip_overlap, uem=uem)
    if not regions:
        return DiarizationScore(0.0, 0.0, 0.0, 0.0)
    cuts = {t for turn in list(reference) + list(hypothesis) for t in turn[:2]}
    cuts |= {t for r in regions for t in r}
    edges = np.array(sorted(cuts), dtype=float)
    mids = (edges[:-1] + edges[1:]) / 2
    inside = np.zeros(len(mids), dtype=bool)
    for start, end in regions:
        inside |= (mids > start) & (mids < end)
    dur = np.diff(edges) * inside
    ref_act = _activity(reference, mids, sorted({t[2] for t in reference}))
    hyp_act = _activity(hypothesis, mids, sorted({t[2] for t in hypothesis}))
    n_ref = ref_act.sum(axis=0)
    n_hyp = hyp_act.sum(axis=0)
    correct = np.zeros(len(mids))
    if len(ref_act) and len(hyp_act):
        cooccurrence = (ref_act * dur) @ hyp_act.T.astype(float)
        rows, cols = linear_sum_assignment(cooccurrence, maximize=True)
        for r, h in zip(rows, cols, strict=True):
            if cooccurrence[r, h] > 0:
                correct += ref_act[r] & hyp_act[h]
    return DiarizationScore(
        missed_s=float((np.maximum(0, n_ref - n_hyp) * dur).sum()),
        false_alarm_s=float((np.maximum(0, n_hyp - n_ref) * dur).sum()),
        confusion_s=float(((np.minimum(n_ref, n_hyp) - correct) * dur).sum()),
        total_s=float((n_ref * dur).sum()),
    )


# --- word / character error rate ----------------------------------------------------------
@dataclass(frozen=True)
class ErrorCounts:
    """Edit operations between reference and hypothesis units (words or characters)."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_units: int = 0
    items: int = 0

    @property
    def rate(self) -> float:
        """(S + D + I) / N; 0 for an empty reference with an empty hypothesis."""
        errors = self.substitutions + self.deletions + self.insertions
        if self.reference_units == 0:
            return 0.0 if errors == 0 else 1.0
        return errors / self.reference_units

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(self.substitutions + other.substitutions,
                           self.deletions + other.deletions, self.insertions + other.insertions,
                           self.reference_units + other.reference_units,
                           self.items + other.items)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"rate": self.rate, **asdict(self)}


def score_units(text: str, unit: str) -> list[str]:
    """The units an error rate counts, after :func:`qa_pipeline.text.normalize` (NFKC, so
    full width -> half width; lower case; punctuation removed; Traditional -> Simplified and
    Chinese numerals -> digits for Chinese; contractions expanded and number words ->
    digits for English). ``word``: whitespace-separated words. ``char``: every character
    except whitespace (Latin letters inside Chinese text count one by one).
    """
    norm = normalize(text)
    if unit == "word":
        return norm.split()
    if unit == "char":
        return [c for c in norm if not c.isspace()]
    raise ValueError(f"unit must be 'word' or 'char', not {unit!r}")


def unit_for(reference: str) -> str:
    """``char`` (CER) for a reference with Chinese characters, else ``word`` (WER)."""
    return "char" if is_chinese(reference) else "word"


def edit_counts(reference: str, hypothesis: str, unit: str) -> ErrorCounts:
    """Substitutions, deletions and insertions of a minimum edit alignment."""
    from rapidfuzz.distance import Levenshtein

    ref, hyp = score_units(reference, unit), score_units(hypothesis, unit)
    subs = dels = ins = 0
    for op in Levenshtein.editops(ref, hyp):
        if op.tag == "replace":
            subs += 1
        elif op.tag == "delete":
            dels += 1
        else:
            ins += 1
    return ErrorCounts(subs, dels, ins, len(ref), 1)


def error_rate(pairs: Iterable[tuple[str, str]], unit: str) -> ErrorCounts:
    """Corpus-level counts over (reference, hypothesis) pairs: errors summed, then divided
    by the summed reference length (not an average of per-item rates).
    """
    total = ErrorCounts()
    for ref, hyp in pairs:
        total = total + edit_counts(ref, hyp, unit)
    return total


# --- speaker roles -------------------------------------------------------------------------
@dataclass(frozen=True)
class RoleScore:
    """Role attribution by speech time."""

    correct_s: float
    scored_s: float
    reference_speech_s: float

    @property
    def accuracy(self) -> float:
        """Share of the time both sides have speech where the hypothesis names only roles
        the reference has speaking.
        """
        return self.correct_s / self.scored_s if self.scored_s else 0.0

    @property
    def coverage(self) -> float:
        """Share of reference speech time the hypothesis covers at all."""
        return self.scored_s / self.reference_speech_s if self.reference_speech_s else 0.0

    def __add__(self, other: RoleScore) -> RoleScore:
        return RoleScore(self.correct_s + other.correct_s, self.scored_s + other.scored_s,
                         self.reference_speech_s + other.reference_speech_s)

    def to_dict(self) -> dict[str, float]:
        """JSON form."""
        return {"accuracy": self.accuracy, "coverage": self.coverage, **asdict(self)}


def role_accuracy(reference: Sequence[Turn], hypothesis: Sequence[Turn],
                  frame_s: float = 0.01) -> RoleScore:
    """Role accuracy of ``hypothesis`` (turns labelled with roles) against ``reference``
    (turns labelled with the same role names) on ``frame_s`` frames. Where the reference
    has both parties at once, naming either one is right.
    """
    if not reference:
        return RoleScore(0.0, 0.0, 0.0)
    end = max(t[1] for t in list(reference) + list(hypothesis))
    mids = (np.arange(int(np.ceil(end / frame_s))) + 0.5) * frame_s
    roles = sorted({t[2] for t in list(reference) + list(hypothesis)})
    ref = _activity(reference, mids, roles)
    hyp = _activity(hypothesis, mids, roles)
    ref_speech = ref.any(axis=0)
    scored = ref_speech & hyp.any(axis=0)
    # Right where every role the hypothesis names is one the reference has speaking.
    right = scored & ~(hyp & ~ref).any(axis=0)
    return RoleScore(float(right.sum() * frame_s), float(scored.sum() * frame_s),
                     float(ref_speech.sum() * frame_s))


# --- classification ------------------------------------------------------------------------
@dataclass(frozen=True)
class BinaryCounts:
    """Confusion counts for one positive class."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        """Precision, tp / (tp + fp); 1.0 when nothing was predicted positive."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Recall, tp / (tp + fn); 1.0 when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, truth: bool, predicted: bool) -> BinaryCounts:
        """These counts plus one observation."""
        return BinaryCounts(self.tp + (truth and predicted), self.fp + (predicted and not truth),
                            self.fn + (truth and not predicted),
                            self.tn + (not truth and not predicted))

    def __add__(self, other: BinaryCounts) -> BinaryCounts:
        return BinaryCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn,
                            self.tn + other.tn)

    def to_dict(self) -> dict[str, float]:
        """JSON form."""
        return {**asdict(self), "precision": self.precision, "recall": self.recall,
                "f1": self.f1}


def macro_f1(gold: Sequence[str], predicted: Sequence[str],
             labels: Sequence[str] | None = None) -> tuple[float, dict[str, float]]:
    """(macro-averaged F1, F1 per label) over ``labels`` (default: every gold label). A
    label never predicted and never true is left out rather than counted as 0 or 1.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    names = list(labels) if labels is not None else sorted(set(gold))
    per: dict[str, float] = {}
    for label in names:
        counts = BinaryCounts()
        for g, p in zip(gold, predicted, strict=True):
            counts = counts.add(g == label, p == label)
        if counts.tp + counts.fp + counts.fn:
            per[label] = counts.f1
    return (float(np.mean(list(per.values()))) if per else 0.0), per


def error_free_share(has_error: Sequence[bool]) -> float:
    """1 − calls with the error / total calls: DOMAIN.md's fatal-error accuracy (or
    non-fatal-error accuracy) of a set of calls; 1.0 for no calls.
    """
    return 1.0 - sum(has_error) / len(has_error) if has_error else 1.0
