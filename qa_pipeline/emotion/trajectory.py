"""The customer's emotion over the call: valence (text sentiment) and arousal (acoustics) at
the start, middle and end, escalation, and complaint intent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from qa_pipeline.acts.track import Repeated
from qa_pipeline.emotion.acoustic import AcousticTrack
from qa_pipeline.sentiment.base import Label, SentimentTrack, labelled_among
from qa_pipeline.text import normalize
from qa_pipeline.types import Conversation, Role, Utterance

if TYPE_CHECKING:
    from qa_pipeline.acts.track import ActTrack

# The dialogue acts by which a customer complains (the rubrics' notion of a complaint).
COMPLAINT_ACTS: tuple[str, ...] = ("complaint", "escalation_threat")
# A customer who states a grievance twice, each time below the act's threshold (worded mildly or
# garbled by ASR), complains too (the default rubrics' ``repeated`` block holds the same).
COMPLAINT_REPEATED = Repeated(("complaint",), 0.25, 2)
# A complaint voices dissatisfaction: the complaint acts count only on a customer line that the
# sentiment model reads as negative. A neutral problem description ("my card is stuck in the
# machine"), a next step ("I'll go into the branch then") or a pleased reaction carries the
# act's wording but no grievance (the default rubrics' ``sentiment_labels`` hold the same).
COMPLAINT_SENTIMENT: tuple[Label, ...] = ("negative",)

# Phrases by which a customer states an intent to complain (normalised text).
DEFAULT_COMPLAINT_CUES: tuple[str, ...] = (
    "投诉", "举报", "12315", "曝光", "差评", "找你们领导", "找你们经理", "叫你们领导", "消协",
    "工信部", "complaint", "complain", "manager", "supervisor", "report you", "ombudsman",
    "better business bureau", "escalate",
)


@dataclass(frozen=True, slots=True)
class EmotionOptions:
    """Thresholds of the trajectory (valence and arousal are in [-1, 1])."""

    negative_valence: float = -0.3
    # Escalation: valence falls at least this much below the start of the call ...
    escalation_drop: float = 0.6
    # ... or negative speech this agitated in consecutive customer utterances.
    agitated_arousal: float = 0.35
    consecutive_utterances: int = 2
    complaint_cues: tuple[str, ...] = DEFAULT_COMPLAINT_CUES
    # Weaker complaint acts that count when they recur (None: only acts at their threshold).
    complaint_repeated: Repeated | None = COMPLAINT_REPEATED
    # Sentiment labels of the lines on which complaint acts count (empty: every line).
    complaint_sentiment: tuple[Label, ...] = COMPLAINT_SENTIMENT
    # Without an explicit cue, this share of negative customer utterances (and at least
    # ``consecutive_utterances`` of them) reads as a probable complaint.
    complaint_negative_share: float = 0.5


@dataclass(frozen=True, slots=True)
class PhaseEmotion:
    """Mean valence and arousal of the customer in one third of their speech."""

    valence: float | None
    arousal: float | None
    utterance_indices: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"valence": None if self.valence is None else round(self.valence, 3),
                "arousal": None if self.arousal is None else round(self.arousal, 3),
                "utterance_indices": list(self.utterance_indices)}


@dataclass(frozen=True, slots=True)
class Finding:
    """A yes/no finding with confidence and the utterances it rests on."""

    detected: bool
    confidence: float
    utterance_indices: tuple[int, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"detected": self.detected, "confidence": round(self.confidence, 3),
                "utterance_indices": list(self.utterance_indices), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class EmotionSummary:
    """The customer's emotion trajectory and what it implies."""

    start: PhaseEmotion
    middle: PhaseEmotion
    end: PhaseEmotion
    escalation: Finding
    complaint_intent: Finding
    curve: tuple[tuple[float, float, float | None], ...] = field(default=())
    """(time_s, valence, arousal) per customer utterance, for the scorecard's chart."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "customer": {"start": self.start.to_dict(), "middle": self.middle.to_dict(),
                         "end": self.end.to_dict()},
            "escalation": self.escalation.to_dict(),
            "complaint_intent": self.complaint_intent.to_dict(),
            "curve": [{"t_s": round(t, 2), "valence": round(v, 3),
                       "arousal": None if a is None else round(a, 3)} for t, v, a in self.curve],
        }


def summarize_emotion(conversation: Conversation, sentiment: SentimentTrack,
                      acoustics: AcousticTrack | None = None,
                      options: EmotionOptions | None = None,
                      acts: ActTrack | None = None) -> EmotionSummary:
    """The customer's trajectory from per-utterance sentiment (+ arousal when audio was there).

    With the call's dialogue ``acts``, complaint intent is the ``complaint`` or
    ``escalation_threat`` act of the customer (or a weaker ``complaint`` act that recurs,
    ``options.complaint_repeated``), or an explicit complaint cue (the notion of a complaint
    the default rubrics use); without acts, it rests on the cues and on the share of
    negative customer utterances.
    """
    opts = options or EmotionOptions()
    valence = {i.utterance_index: i.score for i in sentiment.items}
    arousal = acoustics.by_index() if acoustics is not None else {}
    customer = [u for u in conversation.by_role(Role.CUSTOMER) if u.index in valence]
    thirds = _thirds(customer)
    phases = [_phase(p, valence, arousal) for p in thirds]
    curve = tuple((0.5 * (u.start_s + u.end_s), valence[u.index],
                   arousal[u.index].arousal if u.index in arousal else None) for u in customer)
    return EmotionSummary(phases[0], phases[1], phases[2],
                          _escalation(customer, phases[0], valence, arousal, opts),
                          _complaint(customer, valence, opts) if acts is None
                          else _complaint_acts(conversation.by_role(Role.CUSTOMER), acts, opts,
                                               sentiment.labels()),
                          curve)


def complaint_eligible(indices: Sequence[int], labels: Mapping[int, str],
                       sentiment_labels: Sequence[str] = COMPLAINT_SENTIMENT) -> list[int]:
    """The utterances of ``indices`` on which complaint acts count: those whose sentiment label
    (``labels``: utterance index -> label) is one of ``sentiment_labels``; an utterance without
    a label counts, and so does every one when ``sentiment_labels`` is empty.
    """
    return labelled_among(indices, labels, sentiment_labels)


def _thirds(utts: list[Utterance]) -> list[list[Utterance]]:
    n = len(utts)
    if n == 0:
        return [[], [], []]
    if n < 3:
        return [utts[:1], utts, utts[-1:]]
    a, b = n // 3, n - n // 3
    return [utts[:a], utts[a:b], utts[b:]]


def _phase(utts: list[Utterance], valence: dict[int, float], arousal: dict[int, Any]
           ) -> PhaseEmotion:
    if not utts:
        return PhaseEmotion(None, None, ())
    ar = [arousal[u.index].arousal for u in utts if u.index in arousal]
    return PhaseEmotion(float(np.mean([valence[u.index] for u in utts])),
                        float(np.mean(ar)) if ar else None, tuple(u.index for u in utts))


def _escalation(customer: list[Utterance], start: PhaseEmotion, valence: dict[int, float],
                arousal: dict[int, Any], opts: EmotionOptions) -> Finding:
    k = opts.consecutive_utterances
    baseline = start.valence if start.valence is not None else 0.0
    for i in range(len(customer) - k + 1):
        window = customer[i:i + k]
        v = float(np.mean([valence[u.index] for u in window]))
        if v > opts.negative_valence:
            continue
        indices = tuple(u.index for u in window)
        ar = [arousal[u.index].arousal for u in window if u.index in arousal]
        # Agitation counts only when every utterance of the window is negative and agitated.
        if (len(ar) == k and min(ar) >= opts.agitated_arousal
                and max(valence[u.index] for u in window) <= opts.negative_valence):
            return Finding(True, min(1.0, 0.5 + float(np.mean(ar))), indices,
                           f"negative ({v:+.2f}) and agitated (arousal {np.mean(ar):+.2f})")
        if i > 0 and baseline - v >= opts.escalation_drop:
            return Finding(True, min(1.0, (baseline - v) / 1.2 + 0.3), indices,
                           f"valence fell from {baseline:+.2f} to {v:+.2f}")
    return Finding(False, 0.8 if len(customer) >= k else 0.3)


def _complaint(customer: list[Utterance], valence: dict[int, float],
               opts: EmotionOptions) -> Finding:
    cues = [normalize(c) for c in opts.complaint_cues]
    for u in customer:
        text = normalize(u.text)
        hit = next((c for c in cues if c and c in text), None)
        if hit is not None:
            return Finding(True, 0.9, (u.index,), f"customer said {hit!r}")
    negative = [u for u in customer if valence[u.index] <= opts.negative_valence]
    if customer and len(negative) >= opts.consecutive_utterances and \
            len(negative) / len(customer) >= opts.complaint_negative_share:
        return Finding(True, 0.6, tuple(u.index for u in negative),
                       f"{len(negative)} of {len(customer)} customer utterances negative")
    return Finding(False, 0.7 if customer else 0.3)


def _complaint_acts(customer: Sequence[Utterance], acts: ActTrack, opts: EmotionOptions,
                    labels: Mapping[int, Label]) -> Finding:
    cues = [c for c in (normalize(c) for c in opts.complaint_cues) if c]
    found: list[tuple[Utterance, str, float]] = []
    eligible = complaint_eligible([u.index for u in customer], labels, opts.complaint_sentiment)
    carried = {i: (act, p) for i, act, p in acts.carriers(eligible, COMPLAINT_ACTS, None,
                                                          opts.complaint_repeated)}
    for u in customer:
        best = carried.get(u.index)
        if best is not None:
            found.append((u, f"{best[0].replace('_', ' ')} (act)", best[1]))
        else:
            text = normalize(u.text)
            hit = next((c for c in cues if c in text), None)
            if hit is not None:
                found.append((u, f"said {hit!r}", 0.9))
    if not found:
        return Finding(False, 0.7 if customer else 0.3)
    return Finding(True, max(p for _, _, p in found), tuple(u.index for u, _, _ in found),
                   f"customer {found[0][1]}")
