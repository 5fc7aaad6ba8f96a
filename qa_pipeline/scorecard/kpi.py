"""KPI roll-ups exactly as DOMAIN.md defines them.

Fatal-error accuracy     = 1 - fatal-error calls / total calls      (target >= 95 %)
Non-fatal-error accuracy = 1 - non-fatal-error calls / total calls  (target >= 98 %)

A call counts as a fatal-error call when it has a confirmed fatal failure, and as a
non-fatal-error call when it has at least one confirmed non-fatal error. Findings still
awaiting review are not counted as errors; they are reported as ``pending_review_calls``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DIMENSIONS = ("tenant", "agent", "team", "day")


@dataclass(frozen=True, slots=True)
class KpiRow:
    """KPIs of one group of calls."""

    dims: tuple[str, ...]
    key: tuple[str, ...]
    calls: int
    fatal_error_calls: int
    non_fatal_error_calls: int
    pending_review_calls: int
    mean_score: float

    @property
    def fatal_error_accuracy(self) -> float:
        """1 - fatal-error calls / total calls."""
        return 1.0 - self.fatal_error_calls / self.calls if self.calls else 1.0

    @property
    def non_fatal_error_accuracy(self) -> float:
        """1 - non-fatal-error calls / total calls."""
        return 1.0 - self.non_fatal_error_calls / self.calls if self.calls else 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            **dict(zip(self.dims, self.key, strict=True)),
            "calls": self.calls,
            "fatal_error_calls": self.fatal_error_calls,
            "non_fatal_error_calls": self.non_fatal_error_calls,
            "pending_review_calls": self.pending_review_calls,
            "fatal_error_accuracy": round(self.fatal_error_accuracy, 4),
            "non_fatal_error_accuracy": round(self.non_fatal_error_accuracy, 4),
            "mean_score": round(self.mean_score, 2),
        }


def group_key(card: dict[str, Any], dim: str) -> str:
    """The value of one KPI dimension for a scorecard dict."""
    call = card.get("call") or {}
    if dim == "tenant":
        return str(card.get("tenant_id", ""))
    if dim == "agent":
        return str(call.get("agent_id") or "")
    if dim == "team":
        return str(call.get("team_id") or "")
    if dim == "day":
        return str(call.get("started_at") or card.get("created_at") or "")[:10]
    raise ValueError(f"unknown KPI dimension {dim!r}; expected one of: {', '.join(DIMENSIONS)}")


def kpi_rollup(scorecards: Iterable[dict[str, Any]], by: tuple[str, ...] = ("tenant",)
               ) -> list[KpiRow]:
    """Group scorecard dicts (``Scorecard.to_dict()`` or stored JSON) and compute KPIs.

    Grouping always includes the tenant first, so figures of different tenants never mix.
    """
    dims = by if by and by[0] == "tenant" else ("tenant", *[d for d in by if d != "tenant"])
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for card in scorecards:
        groups[tuple(group_key(card, d) for d in dims)].append(card)
    rows = []
    for key, cards in sorted(groups.items()):
        rows.append(KpiRow(
            dims=dims,
            key=key,
            calls=len(cards),
            fatal_error_calls=sum(1 for c in cards if c.get("has_fatal")),
            non_fatal_error_calls=sum(1 for c in cards if c.get("has_non_fatal_error")),
            pending_review_calls=sum(1 for c in cards if c.get("needs_review")),
            mean_score=_mean_graded(cards),
        ))
    return rows


def _mean_graded(cards: list[dict[str, Any]]) -> float:
    """Mean total of the graded cards: an ungraded call (no speech, or none by the agent)
    has a total that means nothing and would lift the mean.
    """
    graded = [float(c.get("total_score", 0.0)) for c in cards if c.get("grade", "-") != ""]
    return sum(graded) / len(graded) if graded else 0.0


def call_reason_counts(scorecards: Iterable[dict[str, Any]],
                       by: tuple[str, ...] = ("tenant", "day")
                       ) -> dict[tuple[str, ...], dict[str, int]]:
    """Calls per call reason (hot topics), grouped by tenant first and then ``by``.

    Calls scored without a call-reason taxonomy count under ``unclassified``.
    """
    dims = by if by and by[0] == "tenant" else ("tenant", *[d for d in by if d != "tenant"])
    counts: dict[tuple[str, ...], dict[str, int]] = defaultdict(dict)
    for card in scorecards:
        key = tuple(group_key(card, d) for d in dims)
        label = str((card.get("call_reason") or {}).get("label") or "unclassified")
        counts[key][label] = counts[key].get(label, 0) + 1
    return {k: dict(sorted(v.items())) for k, v in sorted(counts.items())}
