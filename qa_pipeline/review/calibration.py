"""Agreement between automated and human verdicts, per criterion: percent agreement and
Cohen's kappa, with an alert when kappa falls below the tenant's threshold.

The automated verdict is the rule's own (``provisional_status``: what the rules said before
any human looked); the human verdict is the latest review of the item.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from qa_pipeline.store import TenantStore
from qa_pipeline.store.tables import ScorecardItemRow, ScorecardRow


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement of one criterion over ``n`` reviewed items."""

    criterion_id: str
    n: int
    agreed: int
    percent_agreement: float
    kappa: float | None  # None when undefined (both raters used one and the same label)
    alert: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"criterion_id": self.criterion_id, "n": self.n, "agreed": self.agreed,
                "percent_agreement": round(self.percent_agreement, 4),
                "kappa": None if self.kappa is None else round(self.kappa, 4),
                "alert": self.alert}


def cohen_kappa(pairs: Iterable[tuple[str, str]]) -> tuple[float, float | None]:
    """``(observed agreement, Cohen's kappa)`` of ``(automated, human)`` label pairs.

    kappa = (p_o - p_e) / (1 - p_e), with p_e the agreement expected from each rater's own
    label frequencies; undefined (None) when p_e = 1.
    """
    pairs = list(pairs)
    n = len(pairs)
    if n == 0:
        return 1.0, None
    p_o = sum(a == h for a, h in pairs) / n
    auto = Counter(a for a, _ in pairs)
    human = Counter(h for _, h in pairs)
    p_e = sum(auto[k] * human[k] for k in auto) / (n * n)
    if p_e >= 1.0:
        return p_o, None
    return p_o, (p_o - p_e) / (1.0 - p_e)


def calibration(tenant: TenantStore, *, since: dt.datetime | None = None,
                until: dt.datetime | None = None, kappa_threshold: float = 0.6,
                min_items: int = 10) -> list[Agreement]:
    """Per-criterion agreement on items reviewed by a human, calls started in
    ``[since, until)``. An alert is raised when kappa (or, where kappa is undefined,
    agreement) is below ``kappa_threshold`` on at least ``min_items`` items.
    """
    stmt = (select(ScorecardItemRow.criterion_id, ScorecardItemRow.provisional_status,
                   ScorecardItemRow.human_status)
            .join(ScorecardRow, ScorecardRow.id == ScorecardItemRow.scorecard_id)
            .where(ScorecardItemRow.human_status.is_not(None)))
    if since is not None:
        stmt = stmt.where(ScorecardRow.started_at_utc >= since)
    if until is not None:
        stmt = stmt.where(ScorecardRow.started_at_utc < until)
    by_criterion: dict[str, list[tuple[str, str]]] = {}
    with tenant.session() as s:
        for criterion, auto, human in s.execute(stmt).tuples():
            by_criterion.setdefault(criterion, []).append((auto, human or ""))
    out = []
    for criterion, pairs in sorted(by_criterion.items()):
        p_o, kappa = cohen_kappa(pairs)
        measure = p_o if kappa is None else kappa
        out.append(Agreement(criterion, len(pairs), sum(a == h for a, h in pairs), p_o, kappa,
                             len(pairs) >= min_items and measure < kappa_threshold))
    return out


def disagreements(tenant: TenantStore, criterion_id: str, *, since: dt.datetime | None = None,
                  until: dt.datetime | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Reviewed items of one criterion where the human overturned the rules, newest first,
    with the reviewer's latest comment: the cases to read when tuning the rubric.
    """
    from qa_pipeline.store.tables import Review

    i, c = ScorecardItemRow, ScorecardRow
    stmt = (select(c.id, c.call_id, c.rubric_id, c.rubric_version, i.id,
                   i.provisional_status, i.human_status)
            .join(c, c.id == i.scorecard_id)
            .where(i.criterion_id == criterion_id, i.human_status.is_not(None),
                   i.human_status != i.provisional_status)
            .order_by(c.id.desc()).limit(limit))
    if since is not None:
        stmt = stmt.where(c.started_at_utc >= since)
    if until is not None:
        stmt = stmt.where(c.started_at_utc < until)
    out = []
    with tenant.session() as s:
        for sid, call_id, rubric_id, version, item_id, auto, human in s.execute(stmt).tuples():
            last = s.execute(select(Review.reviewer, Review.comment)
                             .where(Review.scorecard_item_id == item_id)
                             .order_by(Review.id.desc()).limit(1)).first()
            out.append({"scorecard_id": sid, "call_id": call_id,
                        "rubric": f"{rubric_id}@{version}", "automated": auto,
                        "human": human, "reviewer": last[0] if last else "",
                        "comment": last[1] if last else ""})
    return out
