"""Dashboards of one tenant: the DOMAIN.md KPIs per team / agent / day, grade distribution,
monitoring coverage, top failing criteria and work-order types, computed in SQL over the
current scorecards (so 100,000 cards are aggregated by the database, not in Python), and
exported as CSV or XLSX.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select

from qa_pipeline.errors import ReviewError
from qa_pipeline.scorecard.kpi import KpiRow
from qa_pipeline.store import TenantStore
from qa_pipeline.store.tables import ScorecardItemRow, ScorecardRow

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


def _scoped(stmt: Select[Any], f: DashboardFilter, only_agent: str) -> Select[Any]:
    c = ScorecardRow
    stmt = stmt.where(c.current.is_(True))
    if f.day_from:
        stmt = stmt.where(c.call_day >= f.day_from)
    if f.day_to:
        stmt = stmt.where(c.call_day <= f.day_to)
    if f.team_id:
        stmt = stmt.where(c.team_id == f.team_id)
    agent = only_agent or f.agent_id
    if agent:
        stmt = stmt.where(c.agent_id == agent)
    return stmt


def kpi_table(tenant: TenantStore, grouping: str, f: DashboardFilter = DashboardFilter(),
              *, only_agent: str = "") -> list[dict[str, Any]]:
    """Fatal-error and non-fatal-error accuracy (DOMAIN.md formulas, via
    :class:`~qa_pipeline.scorecard.kpi.KpiRow`) and mean score per group.
    """
    try:
        cols = [getattr(ScorecardRow, name) for name in GROUPINGS[grouping]]
    except KeyError:
        raise ReviewError(f"unknown grouping {grouping!r}; valid: "
                          f"{', '.join(GROUPINGS)}") from None
    c = ScorecardRow
    stmt = _scoped(select(*cols, func.count(), func.sum(case((c.has_fatal, 1), else_=0)),
                          func.sum(case((c.has_non_fatal_error, 1), else_=0)),
                          func.sum(case((c.needs_review, 1), else_=0)),
                          func.avg(c.total_score)), f, only_agent)
    if cols:
        stmt = stmt.group_by(*cols).order_by(*cols)
    dims = ("tenant", *(_DIM_NAMES[n] for n in GROUPINGS[grouping]))
    out = []
    with tenant.session() as s:
        for row in s.execute(stmt).tuples():
            *key, n, fatal, non_fatal, pending, mean = row
            if not n:
                continue
            out.append(KpiRow(dims, (tenant.tenant_id, *map(str, key)), int(n), int(fatal or 0),
                              int(non_fatal or 0), int(pending or 0),
                              float(mean or 0.0)).to_dict())
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
    """Monitored (human-reviewed) calls per agent per day against the target (DOMAIN.md:
    at least one per agent per day).
    """
    c = ScorecardRow
    stmt = _scoped(select(c.agent_id, c.call_day, func.count(),
                          func.sum(case((c.human_reviewed, 1), else_=0))), f, only_agent
                   ).where(c.agent_id != "").group_by(c.agent_id, c.call_day).order_by(
        c.call_day, c.agent_id)
    with tenant.session() as s:
        return [{"agent": a, "day": d, "calls": int(n), "monitored": int(m or 0),
                 "meets_target": int(m or 0) >= target_per_day}
                for a, d, n, m in s.execute(stmt).tuples()]


def top_failing_criteria(tenant: TenantStore, f: DashboardFilter = DashboardFilter(), *,
                         only_agent: str = "", limit: int = 10) -> list[dict[str, Any]]:
    """Criteria failed most often: the human verdict where there is one, else the final
    automated one (findings awaiting review are not failures yet, as in the KPIs).
    """
    i = ScorecardItemRow
    stmt = select(i.criterion_id, i.severity, func.count()).where(
        i.current.is_(True), i.verdict == "fail")
    if f.day_from:
        stmt = stmt.where(i.call_day >= f.day_from)
    if f.day_to:
        stmt = stmt.where(i.call_day <= f.day_to)
    if f.team_id:
        stmt = stmt.where(i.team_id == f.team_id)
    if only_agent or f.agent_id:
        stmt = stmt.where(i.agent_id == (only_agent or f.agent_id))
    stmt = stmt.group_by(i.criterion_id, i.severity).order_by(func.count().desc(),
                                                              i.criterion_id).limit(limit)
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


def to_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """Rows (dicts with the same keys) as UTF-8 CSV with a BOM, so Excel reads Chinese."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode()


def to_xlsx(sheets: dict[str, Sequence[dict[str, Any]]]) -> bytes:
    """Named sheets of rows as an XLSX workbook."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for title, rows in sheets.items():
        ws = wb.create_sheet(title[:31])
        if rows:
            ws.append(list(rows[0]))
            for r in rows:
                ws.append([_cell(v) for v in r.values()])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    return value if isinstance(value, (int, float, str)) or value is None else str(value)
