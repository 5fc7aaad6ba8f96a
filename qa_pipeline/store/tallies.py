"""Keeping :class:`~qa_pipeline.store.tables.FailureTally` in step with the items.

Every change of which items count as failing goes through :func:`bump_failures` in the
same transaction as the change: an atomic upsert (``ON CONFLICT DO UPDATE``, SQLite and
PostgreSQL), so parallel batch writers of one tenant never lose an increment. Each day also
has rows with agent and team :data:`ALL` (the day's totals per criterion), so the unfiltered
dashboard reads a few hundred rows for a month.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from qa_pipeline.store.tables import FailureTally, ScorecardItemRow

TallyKey = tuple[str, str, str, str, str]  # call_day, agent_id, team_id, criterion_id, severity
_KEY_COLUMNS = ("tenant_id", "call_day", "agent_id", "team_id", "criterion_id", "severity")
ALL = "*"
"""Agent and team of the per-day total rows (a reserved id)."""


def failing_keys(items: Iterable[ScorecardItemRow]) -> Counter[TallyKey]:
    """Tally keys of the failing, current items among ``items`` (observation flags are not
    failures).
    """
    return Counter((i.call_day, i.agent_id, i.team_id, i.criterion_id, i.severity)
                   for i in items if i.current and i.verdict == "fail" and i.severity != "flag")


def current_failing_keys(s: Session, card_ids: object) -> Counter[TallyKey]:
    """Tally keys of the failing current items of some cards (``card_ids``: a select)."""
    i = ScorecardItemRow
    rows = s.execute(select(i.call_day, i.agent_id, i.team_id, i.criterion_id, i.severity)
                     .where(i.scorecard_id.in_(card_ids), i.current.is_(True),  # type: ignore[arg-type]
                            i.verdict == "fail", i.severity != "flag")).tuples()
    return Counter(rows)


def bump_failures(s: Session, tenant_id: str, deltas: Counter[TallyKey], sign: int = 1
                  ) -> None:
    """Add ``sign * count`` to each key's tally."""
    totals: Counter[TallyKey] = Counter()
    for (day, _agent, _team, criterion, severity), n in deltas.items():
        totals[(day, ALL, ALL, criterion, severity)] += n
    rows = [{"tenant_id": tenant_id, "call_day": day, "agent_id": agent, "team_id": team,
             "criterion_id": criterion, "severity": severity, "failures": sign * n}
            for (day, agent, team, criterion, severity), n in (deltas + totals).items() if n]
    if not rows:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(FailureTally)
    upsert = stmt.on_conflict_do_update(
        index_elements=list(_KEY_COLUMNS),
        set_={"failures": FailureTally.failures + stmt.excluded.failures})
    s.execute(upsert, rows)
    if sign < 0:  # a tally that reached zero names an agent and a day for nothing
        s.execute(delete(FailureTally).where(FailureTally.failures <= 0))
