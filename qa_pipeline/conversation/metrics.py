"""Conversation metrics: pure functions of a :class:`Conversation` (timing and text only).

Talk time and ratio per role, silence and dead air (announced holds kept apart), overtalk and
who started it, interruptions per role, speech rate per role (zh characters or en words per
minute of talk), response latency, duration. Each metric that points at moments of the call
also carries those spans, so a rubric finding can quote them.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from qa_pipeline.text import normalize
from qa_pipeline.types import Conversation, Role, Utterance

DEFAULT_HOLD_PHRASES = (
    "请稍等", "稍等", "请您稍候", "稍候", "我查一下", "我帮您查一下", "请不要挂机",
    "please hold", "hold on", "one moment", "bear with me", "let me check", "just a moment",
    "give me a moment", "give me a second",
)


@dataclass(frozen=True, slots=True)
class MetricsOptions:
    """Thresholds for the timing metrics."""

    dead_air_min_s: float = 5.0
    hold_phrases: tuple[str, ...] = DEFAULT_HOLD_PHRASES
    # A hold announcement covers a silence that starts within this many seconds after it.
    hold_announcement_window_s: float = 10.0
    interruption_min_overlap_s: float = 0.3
    # Overlapping utterances up to this long are backchannels ("嗯", "okay"), not interruptions.
    backchannel_max_s: float = 1.0


@dataclass(frozen=True, slots=True)
class Span:
    """A moment of the call a metric points at."""

    start_s: float
    end_s: float
    label: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "label": self.label}


@dataclass(frozen=True, slots=True)
class ConversationMetrics:
    """Named metric values (None when undefined, e.g. no agent speech) plus evidence spans."""

    values: dict[str, float | None]
    spans: dict[str, tuple[Span, ...]] = field(default_factory=dict)

    def get(self, name: str) -> float | None:
        """A metric value; KeyError lists the known names."""
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(self.values))}"
                           ) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "values": {k: (round(v, 4) if isinstance(v, float) else v)
                       for k, v in self.values.items()},
            "spans": {k: [s.to_dict() for s in v] for k, v in self.spans.items() if v},
        }


METRIC_NAMES = (
    "duration_s", "talk_time_agent_s", "talk_time_customer_s", "talk_ratio_agent",
    "talk_ratio_customer", "silence_total_s", "silence_ratio", "longest_silence_s",
    "dead_air_count", "dead_air_total_s", "longest_dead_air_s", "hold_count", "longest_hold_s",
    "overtalk_total_s", "overtalk_count", "overtalk_started_by_agent",
    "overtalk_started_by_customer", "interruptions_agent", "interruptions_customer",
    "speech_rate_agent", "speech_rate_customer", "response_latency_mean_s",
    "response_latency_max_s",
)

# Diarizers that give one speaker per moment: a mono call diarized by them cannot show two
# people talking at once, so overtalk and interruptions are undefined (None), not zero.
EXCLUSIVE_DIARIZERS = frozenset({"offline", "pyannote"})
OVERLAP_METRICS = ("overtalk_total_s", "overtalk_count", "overtalk_started_by_agent",
                   "overtalk_started_by_customer", "interruptions_agent", "interruptions_customer")

_UNITS = re.compile(r"[\u3400-\u9fff]|[A-Za-z0-9]+(?:'[A-Za-z]+)?")  # what speech_units counts


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _total(intervals: list[tuple[float, float]]) -> float:
    return sum(e - s for s, e in intervals)


def _intersect(a: list[tuple[float, float]], b: list[tuple[float, float]]
               ) -> list[tuple[float, float]]:
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if end > start:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def speech_units(text: str) -> int:
    """Characters of Chinese plus words of other scripts."""
    return len(_UNITS.findall(text))


def compute_metrics(conversation: Conversation, options: MetricsOptions | None = None
                    ) -> ConversationMetrics:
    """All timing metrics of a conversation."""
    opts = options or MetricsOptions()
    utts = sorted(conversation.utterances, key=lambda u: (u.start_s, u.end_s))
    by_role = {role: [u for u in utts if u.role is role] for role in (Role.AGENT, Role.CUSTOMER)}
    agent_iv = _union([(u.start_s, u.end_s) for u in by_role[Role.AGENT]])
    cust_iv = _union([(u.start_s, u.end_s) for u in by_role[Role.CUSTOMER]])
    all_iv = _union([(u.start_s, u.end_s) for u in utts])
    values: dict[str, float | None] = {name: None for name in METRIC_NAMES}
    spans: dict[str, tuple[Span, ...]] = {}
    values["duration_s"] = conversation.duration_s

    agent_t, cust_t = _total(agent_iv), _total(cust_iv)
    values["talk_time_agent_s"] = agent_t
    values["talk_time_customer_s"] = cust_t
    if agent_t + cust_t > 0:
        values["talk_ratio_agent"] = agent_t / (agent_t + cust_t)
        values["talk_ratio_customer"] = cust_t / (agent_t + cust_t)

    # Silences between the first and the last speech (ring time and hang-up are not silence).
    gaps = [(all_iv[i][1], all_iv[i + 1][0]) for i in range(len(all_iv) - 1)]
    values["silence_total_s"] = _total(gaps)
    values["silence_ratio"] = (_total(gaps) / conversation.duration_s
                               if conversation.duration_s > 0 else None)
    longest = max(gaps, key=lambda g: g[1] - g[0], default=None)
    values["longest_silence_s"] = (longest[1] - longest[0]) if longest else 0.0
    if longest:
        spans["longest_silence_s"] = (Span(*longest, "silence"),)

    holds, dead = _classify_silences(gaps, by_role[Role.AGENT], opts)
    values["dead_air_count"] = float(len(dead))
    values["dead_air_total_s"] = _total(dead)
    values["longest_dead_air_s"] = max((e - s for s, e in dead), default=0.0)
    values["hold_count"] = float(len(holds))
    values["longest_hold_s"] = max((e - s for s, e in holds), default=0.0)
    spans["dead_air_count"] = spans["longest_dead_air_s"] = spans["dead_air_total_s"] = tuple(
        Span(s, e, "dead air") for s, e in dead)
    spans["hold_count"] = tuple(Span(s, e, "announced hold") for s, e in holds)

    overlaps = _intersect(agent_iv, cust_iv)
    values["overtalk_total_s"] = _total(overlaps)
    values["overtalk_count"] = float(len(overlaps))
    started = {Role.AGENT: 0, Role.CUSTOMER: 0}
    agent_starts = [s for s, _ in agent_iv]
    for start, _ in overlaps:
        # Whoever was not already speaking at the overlap's start started it. The agent's
        # intervals are disjoint and sorted: of those that start before it, only the last can
        # still be running.
        before = bisect.bisect_left(agent_starts, start - 1e-6)
        agent_already = before > 0 and agent_iv[before - 1][1] >= start
        started[Role.CUSTOMER if agent_already else Role.AGENT] += 1
    values["overtalk_started_by_agent"] = float(started[Role.AGENT])
    values["overtalk_started_by_customer"] = float(started[Role.CUSTOMER])
    spans["overtalk_total_s"] = spans["overtalk_count"] = tuple(
        Span(s, e, "overtalk") for s, e in overlaps)

    for role, other in ((Role.AGENT, Role.CUSTOMER), (Role.CUSTOMER, Role.AGENT)):
        hits = _interruptions(by_role[role], by_role[other], opts)
        key = f"interruptions_{role.value}"
        values[key] = float(len(hits))
        spans[key] = tuple(Span(u.start_s, u.end_s, f"{role.value} interrupts") for u in hits)
        talk = agent_t if role is Role.AGENT else cust_t
        # One pass over the role's texts (no unit spans the line break between two).
        units = speech_units("\n".join(u.text for u in by_role[role]))
        values[f"speech_rate_{role.value}"] = units / (talk / 60.0) if talk > 0 else None

    if conversation.provenance.diarization_backend in EXCLUSIVE_DIARIZERS:
        for key in OVERLAP_METRICS:
            values[key] = None
            spans.pop(key, None)

    latencies = []
    for prev, nxt in zip(utts, utts[1:], strict=False):
        if prev.role is Role.CUSTOMER and nxt.role is Role.AGENT and nxt.start_s >= prev.end_s:
            latencies.append(nxt.start_s - prev.end_s)
    if latencies:
        values["response_latency_mean_s"] = sum(latencies) / len(latencies)
        values["response_latency_max_s"] = max(latencies)
    return ConversationMetrics(values, spans)


def _classify_silences(gaps: list[tuple[float, float]], agent_utts: list[Utterance],
                       opts: MetricsOptions) -> tuple[list[tuple[float, float]],
                                                      list[tuple[float, float]]]:
    """Split long silences into announced holds and unannounced dead air."""
    holds: list[tuple[float, float]] = []
    dead: list[tuple[float, float]] = []
    long_gaps = [(s, e) for s, e in gaps if e - s >= opts.dead_air_min_s]
    if not long_gaps:
        return holds, dead
    hold_norm = tuple(p for p in (normalize(h) for h in opts.hold_phrases) if p)

    def near(t: float, start: float) -> bool:
        return start - opts.hold_announcement_window_s <= t <= start + 0.5

    # Only an agent utterance that ends near a long silence can announce it: only those are
    # normalised and searched for a hold phrase.
    announcements = [u.end_s for u in agent_utts
                     if any(near(u.end_s, start) for start, _ in long_gaps)
                     and any(p in normalize(u.text) for p in hold_norm)]
    for start, end in long_gaps:
        announced = any(near(t, start) for t in announcements)
        (holds if announced else dead).append((start, end))
    return holds, dead


def _interruptions(speaker: list[Utterance], other: list[Utterance], opts: MetricsOptions
                   ) -> list[Utterance]:
    """Utterances of ``speaker`` that start while ``other`` is mid-utterance and cut in
    for real (not a short backchannel, and the other was still talking).
    """
    # Latest end among the other party's utterances that started before each time point:
    # sorted starts plus a running maximum make each query a binary search.
    others = sorted(other, key=lambda o: o.start_s)
    starts = [o.start_s for o in others]
    running_max: list[float] = []
    latest = float("-inf")
    for o in others:
        latest = max(latest, o.end_s)
        running_max.append(latest)
    out = []
    for u in speaker:
        if u.end_s - u.start_s <= opts.backchannel_max_s:
            continue
        i = bisect.bisect_left(starts, u.start_s - 1e-6)  # others starting strictly before u
        if i and running_max[i - 1] - u.start_s >= opts.interruption_min_overlap_s:
            out.append(u)
    return out
