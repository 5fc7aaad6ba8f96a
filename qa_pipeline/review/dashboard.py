"""Dashboards of one tenant: the DOMAIN.md KPIs per team / agent / day, grade distribution,
monitoring coverage, top failing criteria and work-order types, computed in SQL over the
current scorecards (so 100,000 cards are aggregated by the database, not in Python), and
exported as CSV or XLSX.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select

from qa_pipeline.errors import ReviewError
from qa_pipeline.scorecard.kpi import KpiRow
from qa_pipeline.store import TenantStore
from qa_pipeline.store.tables import FailureTally, ScorecardRow
from qa_pipeline.store.tallies import ALL

GROUPINGS = {"tenant": (), "team": ("team_id",), "agent": ("agent_id",), "day": ("call_day",),
             "agent_day": ("agent_id", "call_day"), "team_day": ("team_id", "call_day")}
"""Named groupings of the KPI table and the columns they group by."""

_DIM_NAMES = {"team_id": "team", "agent_id": "agent", "call_day": "day"}


@dataclass(frozen=True, slots=True)
class DashboardFilter:
    """Period (``YYYY-MM-DD`` call days, inclusive) and optional team / agent."""

    day_from: str = ""
    day_to: str = ""
    team_id: str = ""
    agent_id: str = ""


def _narrowed(stmt: Select[Any], table: type[ScorecardRow] | type[FailureTally],
              f: DashboardFilter, only_agent: str) -> Select[Any]:
    """``stmt`` restricted to the filter's period, team and agent (columns of ``table``)."""
    if f.day_from:
        stmt = stmt.where(table.call_day >= f.day_from)
    if f.day_to:
        stmt = stmt.where(table.call_day <= f.day_to)
    if f.team_id:
        stmt = stmt.where(table.team_id == f.team_id)
    agent = only_agent or f.agent_id
    if agent:
        stmt = stmt.where(table.agent_id == agent)
    return stmt


def _scoped(stmt: Select[Any], f: DashboardFilter, only_agent: str) -> Select[Any]:
    return _narrowed(stmt.where(ScorecardRow.current.is_(True)), ScorecardRow, f, only_agent)


def kpi_table(tenant: TenantStore, grouping: str, f: DashboardFilter = DashboardFilter(),
              *, only_agent: str = "") -> list[dict[str, Any]]:
    """Fatal-error and non-fatal-error accuracy (DOMAIN.md formulas, via
    :class:`~qa_pipeline.scorecard.kpi.KpiRow`) and mean score per group, grouped by the
    database over a covering index range (only the groups come back).
    """
    try:
        names = GROUPINGS[grouping]
    except KeyError:
        raise ReviewError(f"unknown grouping {grouping!r}; valid: "
                          f"{', '.join(GROUPINGS)}") from None
    c = ScorecardRow
    cols = [getattr(c, n) for n in names]
    stmt = _scoped(select(*cols, func.count(), func.sum(case((c.has_fatal, 1), else_=0)),
                          func.sum(case((c.has_non_fatal_error, 1), else_=0)),
                          func.sum(case((c.needs_review, 1), else_=0)),
                          # Ungraded calls (no speech, or none by the agent) carry no score.
                          func.avg(case((c.grade != "", c.total_score), else_=None))),
                          f, only_agent)
    if cols:
        stmt = stmt.group_by(*cols).order_by(*cols)
    dims = ("tenant", *(_DIM_NAMES[n] for n in names))
    out = []
    with tenant.session() as s:
        for *key, n, fatal, non_fatal, pending, mean in s.execute(stmt).tuples():
            if n:
                out.append(KpiRow(dims, (tenant.tenant_id, *(str(k or "") for k in key)),
                                  int(n), int(fatal or 0), int(non_fatal or 0),
                                  int(pending or 0), float(mean or 0.0)).to_dict())
    return out


def grade_distribution(tenant: TenantStore, f: DashboardFilter = DashboardFilter(), *,
                       only_agent: str = "") -> dict[str, int]:
    """Calls per grade."""
    stmt = _scoped(select(ScorecardRow.grade, func.count()), f, only_agent).group_by(
        ScorecardRow.grade).order_by(ScorecardRow.grade)
    with tenant.session() as s:
        return {g: int(n) for g, n in s.execute(stmt).tuples()}


def coverage(tenant: TenantStore, f: DashboardFilter = DashboardFilter(), *,
             only_agent: str = "", target_per_day: int = 1) -> list[dict[str, Any]]:
    """Monitoring coverage per agent (DOMAIN.md: at least one monitored call per agent per
    day): the days the agent took calls, the days with at least ``target_per_day``
    human-reviewed calls, and the share; ``meets_target`` when every working day did.
    """
    c = ScorecardRow
    per_day = _scoped(select(c.agent_id.label("agent_id"), c.call_day,
                             func.count().label("calls"),
                             func.sum(case((c.human_reviewed, 1), else_=0)).label("monitored")),
                      f, only_agent).where(c.agent_id != "").group_by(
        c.agent_id, c.call_day).subquery()
    covered = case((per_day.c.monitored >= target_per_day, 1), else_=0)
    stmt = (select(per_day.c.agent_id, func.count(), func.sum(covered),
                   func.sum(per_day.c.calls), func.sum(per_day.c.monitored))
            .group_by(per_day.c.agent_id).order_by(per_day.c.agent_id))
    with tenant.session() as s:
        return [{"agent": agent, "days": int(days), "days_covered": int(ok or 0),
                 "calls": int(n or 0), "monitored": int(m or 0),
                 "coverage_rate": round(int(ok or 0) / int(days), 4) if days else 1.0,
                 "meets_target": int(ok or 0) == int(days)}
                for agent, days, ok, n, m in s.execute(stmt).tuples()]


def summary(tenant: TenantStore, grouping: str, f: DashboardFilter = DashboardFilter(), *,
            only_agent: str = "") -> dict[str, Any]:
    """Everything a dashboard shows; every query returns groups, not cards."""
    return {"kpis": kpi_table(tenant, grouping, f, only_agent=only_agent),
            "trend": kpi_table(tenant, "day", f, only_agent=only_agent),
            "grades": grade_distribution(tenant, f, only_agent=only_agent),
            "coverage": coverage(tenant, f, only_agent=only_agent),
            "top_failing": top_failing_criteria(tenant, f, only_agent=only_agent),
            "call_reasons": call_reasons(tenant, f, only_agent=only_agent)}


def top_failing_criteria(tenant: TenantStore, f: DashboardFilter = DashboardFilter(), *,
                         only_agent: str = "", limit: int = 10) -> list[dict[str, Any]]:
    """Criteria failed most often: the human verdict where there is one, else the final
    automated one (findings awaiting review are not failures yet, as in the KPIs). Read
    from the failure tallies the store keeps per day, agent, team and criterion.
    """
    t = FailureTally
    stmt = _narrowed(select(t.criterion_id, t.severity, func.sum(t.failures)), t, f,
                     only_agent)
    if f.team_id or only_agent or f.agent_id:  # per-agent rows, never the day totals
        stmt = stmt.where(t.agent_id != ALL, t.team_id != ALL)
    else:
        stmt = stmt.where(t.agent_id == ALL, t.team_id == ALL)
    total = func.sum(t.failures)
    stmt = (stmt.group_by(t.criterion_id, t.severity).having(total > 0)
            .order_by(total.desc(), t.criterion_id).limit(limit))
    with tenant.session() as s:
        return [{"criterion_id": cid, "severity": sev, "failures": int(n)}
                for cid, sev, n in s.execute(stmt).tuples()]


def call_reasons(tenant: TenantStore, f: DashboardFilter = DashboardFilter(), *,
                 only_agent: str = "") -> dict[str, int]:
    """Calls per work-order type (hot topics); unclassified calls under ``unclassified``."""
    label = func.coalesce(func.nullif(ScorecardRow.call_reason, ""), "unclassified")
    stmt = _scoped(select(label, func.count()), f, only_agent).group_by(label).order_by(
        func.count().desc())
    with tenant.session() as s:
        return {str(k): int(n) for k, n in s.execute(stmt).tuples()}


def kpi_columns(grouping: str) -> list[str]:
    """Column names of :func:`kpi_table` rows for a grouping (headers of empty exports)."""
    try:
        names = GROUPINGS[grouping]
    except KeyError:
        raise ReviewError(f"unknown grouping {grouping!r}; valid: "
                          f"{', '.join(GROUPINGS)}") from None
    dims = ("tenant", *(_DIM_NAMES[n] for n in names))
    return list(KpiRow(dims, tuple("" for _ in dims), 0, 0, 0, 0, 0.0).to_dict())


def latest_call_day(tenant: TenantStore, *, only_agent: str = "") -> dt.date | None:
    """The newest local call day with a current scorecard (None for an empty tenant)."""
    stmt = _scoped(select(func.max(ScorecardRow.call_day)), DashboardFilter(), only_agent)
    with tenant.session() as s:
        day = s.scalar(stmt)
    return dt.date.fromisoformat(day) if day else None


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> bytes:
    """Rows (dicts with the same keys) as UTF-8 CSV with a BOM, so Excel reads Chinese.
    ``columns`` names the header when there may be no rows (an empty period still exports
    its header line).
    """
    buf = io.StringIO()
    fields = list(columns) if columns is not None else list(rows[0]) if rows else []
    if fields:
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode()


def to_xlsx(sheets: dict[str, Sequence[dict[str, Any]]],
            headers: dict[str, list[str]] | None = None) -> bytes:
    """Named sheets of rows as an XLSX workbook (``headers``: header rows of sheets that
    may be empty).
    """
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for title, rows in sheets.items():
        ws = wb.create_sheet(title[:31])
        header = list(rows[0]) if rows else (headers or {}).get(title, [])
        if header:
            ws.append(header)
        if rows:
            for r in rows:
                ws.append([_cell(v) for v in r.values()])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    return value if isinstance(value, (int, float, str)) or value is None else str(value)


def data_version(tenant: TenantStore) -> tuple[Any, ...]:
    """Changes whenever anything a dashboard shows may have changed: a card stored or
    re-scored (newest id and creation time), a human verdict (newest review), a purge (newest
    audit entry). Four index look-ups, so a cached dashboard can be checked on every request.
    """
    from qa_pipeline.store.tables import AuditEntry, Review

    with tenant.session() as s:
        return tuple(s.execute(select(
            select(func.max(ScorecardRow.id)).scalar_subquery(),
            select(func.max(ScorecardRow.created_at)).scalar_subquery(),
            select(func.max(Review.id)).scalar_subquery(),
            select(func.max(AuditEntry.id)).scalar_subquery())).one())
