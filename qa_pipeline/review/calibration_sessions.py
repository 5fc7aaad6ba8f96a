"""Blind calibration sessions between reviewers (as MaestroQA runs them).

A supervisor picks calls and invites monitors; each monitor scores every scored criterion
of every call without seeing the automated verdicts or the other monitors' verdicts, and
hands in once. Session verdicts are kept apart from reviews: they change no scorecard, no
coverage and no calibration figure of the automated verdicts. Once every monitor has handed
in (or the supervisor closes the session) the session shows, per criterion, the share of
monitor pairs that agree and Krippendorff's alpha (nominal; it allows monitors who did not
hand in), and per monitor the agreement with the automated verdicts.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from qa_pipeline.errors import NotFoundError, ReviewConflictError, ReviewError
from qa_pipeline.review.calibration import cohen_kappa
from qa_pipeline.store import TenantStore
from qa_pipeline.store.guard import ScopedSession
from qa_pipeline.store.tables import (
    CalibrationSession,
    CalibrationSessionCall,
    CalibrationSessionMonitor,
    CalibrationSessionVerdict,
    ScorecardDocument,
    ScorecardItemRow,
    ScorecardRow,
    utcnow,
)

SESSION_VERDICTS = ("pass", "fail", "not_applicable")
"""What a monitor may answer for a criterion in a session."""
MAX_CALLS = 50
"""Calls per session (a calibration is an hour's work, not a backlog)."""


@dataclass(frozen=True, slots=True)
class SessionMonitor:
    """An invited monitor and when they handed in (None: not yet)."""

    user_id: str
    submitted_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session, its calls (in order) and its monitors."""

    session_id: int
    title: str
    created_by: str
    created_at: dt.datetime
    closed_by: str
    closed_at: dt.datetime | None
    calls: tuple[tuple[str, int], ...]  # (call id, scorecard id)
    monitors: tuple[SessionMonitor, ...]

    @property
    def complete(self) -> bool:
        """Every monitor handed in, or the supervisor closed the session."""
        return self.closed_at is not None or all(m.submitted_at for m in self.monitors)

    @property
    def submitted(self) -> int:
        """How many monitors handed in."""
        return sum(1 for m in self.monitors if m.submitted_at)

    def pending_for(self, user_id: str) -> bool:
        """Whether ``user_id`` is invited and still has to hand in (they score blind)."""
        return not self.complete and any(
            m.user_id == user_id and m.submitted_at is None for m in self.monitors)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"session_id": self.session_id, "title": self.title,
                "created_by": self.created_by, "created_at": self.created_at.isoformat(),
                "closed_by": self.closed_by,
                "closed_at": self.closed_at.isoformat() if self.closed_at else None,
                "complete": self.complete,
                "calls": [{"call_id": c, "scorecard_id": s} for c, s in self.calls],
                "monitors": [{"user_id": m.user_id, "submitted_at": m.submitted_at.isoformat()
                              if m.submitted_at else None} for m in self.monitors]}


@dataclass(frozen=True, slots=True)
class CriterionAgreement:
    """Monitors' agreement on one criterion over the session's calls.

    ``calls`` counts the calls at least two monitors scored (the sample); ``alpha`` is None
    where it is undefined (fewer than two monitors on every call, or one and the same
    verdict throughout); ``ai_agreement`` is the share of monitor verdicts equal to the
    automated one.
    """

    criterion_id: str
    calls: int
    pairs: int
    agreeing_pairs: int
    pairwise_agreement: float | None
    alpha: float | None
    ai_agreement: float | None
    small_sample: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"criterion_id": self.criterion_id, "calls": self.calls, "pairs": self.pairs,
                "agreeing_pairs": self.agreeing_pairs,
                "pairwise_agreement": _round(self.pairwise_agreement),
                "alpha": _round(self.alpha), "ai_agreement": _round(self.ai_agreement),
                "small_sample": self.small_sample}


@dataclass(frozen=True, slots=True)
class MonitorVsAutomated:
    """One monitor's verdicts against the automated ones of the same items."""

    user_id: str
    items: int
    agreed: int
    agreement: float | None
    kappa: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"user_id": self.user_id, "items": self.items, "agreed": self.agreed,
                "agreement": _round(self.agreement), "kappa": _round(self.kappa)}


@dataclass(frozen=True, slots=True)
class SessionResults:
    """What a completed session shows."""

    criteria: tuple[CriterionAgreement, ...]
    monitors: tuple[MonitorVsAutomated, ...]
    # (call id, criterion id) -> {user id: verdict}, in the session's call order
    grid: dict[tuple[str, str], dict[str, str]]
    # (call id, criterion id) -> the rules' own verdict on the session's scorecard
    automated: dict[tuple[str, str], str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"criteria": [c.to_dict() for c in self.criteria],
                "monitors": [m.to_dict() for m in self.monitors],
                "verdicts": [{"call_id": call, "criterion_id": crit, "monitors": v,
                              "automated": self.automated.get((call, crit))}
                             for (call, crit), v in self.grid.items()]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def krippendorff_alpha(units: Iterable[Mapping[str, str]], raters: list[str]) -> float | None:
    """Nominal Krippendorff's alpha of ``units`` (rater -> label, raters may be missing),
    computed by the ``krippendorff`` package; None where it is undefined.
    """
    import numpy as np

    try:
        import krippendorff
    except ImportError as e:  # a declared dependency; a broken install says so
        raise ReviewError("the krippendorff package is missing: pip install krippendorff"
                          ) from e
    rows = list(units)
    codes = {lab: k for k, lab in enumerate(SESSION_VERDICTS)}
    if len(raters) < 2 or not any(len(u) >= 2 for u in rows):
        return None
    data = np.full((len(raters), len(rows)), np.nan)
    for j, unit in enumerate(rows):
        for i, rater in enumerate(raters):
            if rater in unit:
                data[i, j] = codes[unit[rater]]
    try:
        value = float(krippendorff.alpha(reliability_data=data,
                                         level_of_measurement="nominal"))
    except ValueError:  # a single value in the whole domain: agreement is trivial
        return None
    return None if np.isnan(value) else value


class CalibrationSessions:
    """The calibration sessions of one tenant."""

    def __init__(self, tenant: TenantStore) -> None:
        self.tenant = tenant

    # --- supervisor -----------------------------------------------------------------------
    def create(self, title: str, call_ids: list[str], monitors: list[str], *,
               created_by: str) -> int:
        """Open a session on ``call_ids`` (their current scorecards) for ``monitors``.

        The caller checks that the monitors may review this tenant.

        Raises:
            ReviewError: no title, no calls, more than :data:`MAX_CALLS`, fewer than two
                monitors, or a call without a scorecard.
        """
        title = title.strip()
        calls = list(dict.fromkeys(c.strip() for c in call_ids if c.strip()))
        people = sorted(set(m.strip() for m in monitors if m.strip()))
        if not title:
            raise ReviewError("a calibration session needs a title")
        if not calls or len(calls) > MAX_CALLS:
            raise ReviewError(f"a calibration session takes 1 to {MAX_CALLS} calls")
        if len(people) < 2:
            raise ReviewError("invite at least two monitors: agreement needs a pair")
        with self.tenant.session() as s:
            found = {c: int(i) for c, i in s.execute(
                select(ScorecardRow.call_id, ScorecardRow.id).where(
                    ScorecardRow.call_id.in_(calls), ScorecardRow.current.is_(True))).tuples()}
            missing = [c for c in calls if c not in found]
            if missing:
                raise ReviewError(f"no scorecard for call(s) {', '.join(missing)}")
            row = CalibrationSession(tenant_id=self.tenant.tenant_id, title=title[:200],
                                     created_by=created_by, closed_by="", created_at=utcnow())
            s.add(row)
            s.flush()
            sid = int(row.id)
            s.add_all(CalibrationSessionCall(session_id=sid, call_id=c,
                                             tenant_id=self.tenant.tenant_id,
                                             scorecard_id=found[c], position=k)
                      for k, c in enumerate(calls))
            s.add_all(CalibrationSessionMonitor(session_id=sid, user_id=m,
                                                tenant_id=self.tenant.tenant_id)
                      for m in people)
        self.tenant.audit(created_by, "calibration_session.create", "calibration_session",
                          str(sid), after={"title": title, "calls": calls, "monitors": people})
        return sid

    def close(self, session_id: int, *, actor: str) -> None:
        """End a session before every monitor has handed in (its results show at once).

        Raises:
            NotFoundError: no such session.
            ReviewConflictError: already closed.
        """
        with self.tenant.session() as s:
            row = self._session_row(s, session_id)
            if row.closed_at is not None:
                raise ReviewConflictError(f"session {session_id} is already closed")
            row.closed_at, row.closed_by = utcnow(), actor
        self.tenant.audit(actor, "calibration_session.close", "calibration_session",
                          str(session_id))

    # --- everyone -------------------------------------------------------------------------
    def sessions(self, *, monitor: str = "") -> list[SessionInfo]:
        """Sessions, newest first (only those ``monitor`` is invited to, when given)."""
        with self.tenant.session() as s:
            stmt = select(CalibrationSession.id).order_by(CalibrationSession.id.desc())
            if monitor:
                stmt = stmt.where(CalibrationSession.id.in_(
                    select(CalibrationSessionMonitor.session_id)
                    .where(CalibrationSessionMonitor.user_id == monitor)))
            return [self._info(s, int(i)) for i in s.scalars(stmt)]

    def session(self, session_id: int) -> SessionInfo:
        """One session.

        Raises:
            NotFoundError: no such session in this tenant.
        """
        with self.tenant.session() as s:
            return self._info(s, session_id)

    def blind_calls(self, user_id: str) -> set[str]:
        """Calls ``user_id`` still scores blind: in open sessions they have not handed in
        (one indexed query: every queue and call page asks).
        """
        sc, m, ses = CalibrationSessionCall, CalibrationSessionMonitor, CalibrationSession
        with self.tenant.session() as s:
            return set(s.scalars(
                select(sc.call_id).join(m, m.session_id == sc.session_id)
                .join(ses, ses.id == sc.session_id)
                .where(m.user_id == user_id, m.submitted_at.is_(None),
                       ses.closed_at.is_(None))))

    def criteria(self, session_id: int) -> dict[str, list[dict[str, Any]]]:
        """Per call, the scored criteria to answer (id, section, severity, description):
        never the automated verdicts, evidence or score.
        """
        info = self.session(session_id)
        out: dict[str, list[dict[str, Any]]] = {}
        with self.tenant.session() as s:
            for call_id, scorecard_id in info.calls:
                doc = s.get(ScorecardDocument, scorecard_id)
                if doc is None:  # the card was purged or replaced since
                    out[call_id] = []
                    continue
                data = self.tenant.unseal(doc.data)
                out[call_id] = [{"criterion_id": i["criterion_id"],
                                 "section_id": i.get("section_id", ""),
                                 "severity": i.get("severity", ""),
                                 "description": i.get("description", "")}
                                for i in data.get("items") or ()
                                if i.get("kind", "error") != "flag"]
        return out

    # --- monitor --------------------------------------------------------------------------
    def submit(self, session_id: int, user_id: str,
               verdicts: Mapping[tuple[str, str], tuple[str, str]]) -> None:
        """Hand in ``user_id``'s verdicts: ``(call id, criterion id) -> (verdict, comment)``
        for every scored criterion of every call of the session.

        Raises:
            NotFoundError: no such session.
            ReviewError: not invited, a missing or unknown item, an unknown verdict.
            ReviewConflictError: the session is closed, or they already handed in.
        """
        info = self.session(session_id)
        if not any(m.user_id == user_id for m in info.monitors):
            raise ReviewError(f"{user_id} is not invited to session {session_id}")
        if info.closed_at is not None:
            raise ReviewConflictError(f"session {session_id} is closed")
        expected = {(call, c["criterion_id"])
                    for call, crits in self.criteria(session_id).items() for c in crits}
        unknown = sorted(set(verdicts) - expected)
        missing = sorted(expected - set(verdicts))
        if unknown:
            raise ReviewError("not in this session: " + ", ".join(f"{a}/{b}" for a, b in unknown))
        if missing:
            raise ReviewError(f"{len(missing)} item(s) still need a verdict, first "
                              f"{missing[0][0]}/{missing[0][1]}")
        bad = sorted({v for v, _ in verdicts.values() if v not in SESSION_VERDICTS})
        if bad:
            raise ReviewError(f"unknown verdict(s) {', '.join(bad)}; valid: "
                              f"{', '.join(SESSION_VERDICTS)}")
        with self.tenant.session() as s:
            me = s.get(CalibrationSessionMonitor, (session_id, user_id))
            assert me is not None  # checked above
            if me.submitted_at is not None:
                raise ReviewConflictError(f"{user_id} already handed in session {session_id}")
            me.submitted_at = utcnow()
            s.add_all(CalibrationSessionVerdict(
                session_id=session_id, user_id=user_id, call_id=call, criterion_id=crit,
                tenant_id=self.tenant.tenant_id, verdict=v, comment=comment.strip()[:2000])
                for (call, crit), (v, comment) in sorted(verdicts.items()))
        self.tenant.audit(user_id, "calibration_session.submit", "calibration_session",
                          str(session_id), after={"items": len(verdicts)})

    def own_verdicts(self, session_id: int, user_id: str) -> dict[tuple[str, str], str]:
        """What ``user_id`` handed in (their own, which they may always see)."""
        with self.tenant.session() as s:
            return {(v.call_id, v.criterion_id): v.verdict for v in s.scalars(
                select(CalibrationSessionVerdict).where(
                    CalibrationSessionVerdict.session_id == session_id,
                    CalibrationSessionVerdict.user_id == user_id))}

    # --- results --------------------------------------------------------------------------
    def results(self, session_id: int, *, min_calls: int = 10) -> SessionResults:
        """Agreement of a completed session.

        Raises:
            NotFoundError: no such session.
            ReviewConflictError: not complete yet (verdicts stay blind until then).
        """
        info = self.session(session_id)
        if not info.complete:
            raise ReviewConflictError(
                f"session {session_id} is still open: {info.submitted} of "
                f"{len(info.monitors)} monitors have handed in")
        card_of = dict(info.calls)
        with self.tenant.session() as s:
            rows = list(s.scalars(select(CalibrationSessionVerdict).where(
                CalibrationSessionVerdict.session_id == session_id)))
            auto = {(call, crit): status for call, crit, status in s.execute(
                select(ScorecardRow.call_id, ScorecardItemRow.criterion_id,
                       ScorecardItemRow.provisional_status)
                .join(ScorecardRow, ScorecardRow.id == ScorecardItemRow.scorecard_id)
                .where(ScorecardItemRow.scorecard_id.in_(list(card_of.values())))).tuples()}
        raters = sorted({r.user_id for r in rows})
        grid: dict[tuple[str, str], dict[str, str]] = {}
        order = {c: k for k, (c, _) in enumerate(info.calls)}
        for r in sorted(rows, key=lambda r: (order.get(r.call_id, 0), r.criterion_id)):
            grid.setdefault((r.call_id, r.criterion_id), {})[r.user_id] = r.verdict
        auto = {k: v for k, v in auto.items() if k in grid}
        criteria = []
        for crit in sorted({c for _, c in grid}):
            units = [cell for (_, c), cell in grid.items() if c == crit]
            pairs = agree = 0
            for unit in units:
                for a, b in itertools.combinations(sorted(unit.values()), 2):
                    pairs += 1
                    agree += a == b
            with_ai = [(auto[key], v) for key, cell in grid.items()
                       if key[1] == crit and key in auto for v in cell.values()]
            sample = sum(1 for u in units if len(u) >= 2)
            criteria.append(CriterionAgreement(
                crit, sample, pairs, agree, agree / pairs if pairs else None,
                krippendorff_alpha(units, raters),
                sum(a == h for a, h in with_ai) / len(with_ai) if with_ai else None,
                sample < min_calls))
        monitors = []
        for user in raters:
            pairs_ai = [(auto[key], cell[user]) for key, cell in grid.items()
                        if key in auto and user in cell]
            p_o, kappa = cohen_kappa(pairs_ai)
            monitors.append(MonitorVsAutomated(
                user, len(pairs_ai), sum(a == h for a, h in pairs_ai),
                p_o if pairs_ai else None, kappa))
        return SessionResults(tuple(criteria), tuple(monitors), grid, auto)

    # --- internals ------------------------------------------------------------------------
    def _session_row(self, s: ScopedSession, session_id: int) -> CalibrationSession:
        row = s.get(CalibrationSession, session_id)
        if row is None or row.tenant_id != self.tenant.tenant_id:
            raise NotFoundError(f"no calibration session {session_id}")
        return row

    def _info(self, s: ScopedSession, session_id: int) -> SessionInfo:
        row = self._session_row(s, session_id)
        calls = tuple((c.call_id, c.scorecard_id) for c in s.scalars(
            select(CalibrationSessionCall).where(CalibrationSessionCall.session_id == row.id)
            .order_by(CalibrationSessionCall.position)))
        monitors = tuple(SessionMonitor(m.user_id, m.submitted_at) for m in s.scalars(
            select(CalibrationSessionMonitor).where(
                CalibrationSessionMonitor.session_id == row.id)
            .order_by(CalibrationSessionMonitor.user_id)))
        return SessionInfo(int(row.id), row.title, row.created_by, row.created_at,
                           row.closed_by, row.closed_at, calls, monitors)
