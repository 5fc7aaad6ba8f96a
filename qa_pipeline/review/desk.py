"""The review desk of one tenant: the queue, item reviews that re-score the card, agents'
disputes with the QA decision, the daily sampling plan and the audit trail.

Every method runs through :class:`~qa_pipeline.store.TenantStore`, so another tenant's rows
are invisible here; an ``agent_id`` restriction (users with the ``agent`` role) narrows
the view further to one agent's calls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select

from qa_pipeline.errors import NotFoundError, ReviewConflictError, ReviewError
from qa_pipeline.review.rescore import (
    HumanVerdict,
    RubricCatalog,
    apply_verdicts,
    review_complete,
)
from qa_pipeline.store import TenantStore
from qa_pipeline.store.guard import ScopedSession
from qa_pipeline.store.tables import (
    AuditEntry,
    Call,
    ConversationRow,
    Dispute,
    Review,
    ScorecardDocument,
    ScorecardItemRow,
    ScorecardRow,
    utcnow,
)
from qa_pipeline.store.tallies import bump_failures, failing_keys

SENTIMENTS = ("negative", "neutral", "positive")
DISPUTE_DECISIONS = ("upheld", "rejected")


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the queue shows; every field narrows it (None / empty: no restriction)."""

    team_id: str = ""
    agent_id: str = ""
    since: dt.datetime | None = None  # naive UTC, inclusive
    until: dt.datetime | None = None  # naive UTC, exclusive
    grade: str = ""
    has_fatal: bool | None = None
    needs_review: bool | None = None
    sentiment: str = ""
    human_reviewed: bool | None = None
    criterion_failed: str = ""
    assignee: str = ""  # only calls assigned to this user

    def __post_init__(self) -> None:
        if self.sentiment and self.sentiment not in SENTIMENTS:
            raise ReviewError(f"sentiment {self.sentiment!r} is not one of "
                              f"{', '.join(SENTIMENTS)}")


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One scorecard in the queue."""

    scorecard_id: int
    call_id: str
    agent_id: str
    team_id: str
    started_at_utc: str
    rubric: str
    total_score: float
    grade: str
    has_fatal: bool
    needs_review: bool
    human_reviewed: bool
    sentiment_end: str
    call_reason: str
    duration_s: float | None = None
    direction: str = ""
    assignee: str = ""


SORTS = {"newest": "started_at_utc desc", "oldest": "started_at_utc",
         "score": "total_score", "score_desc": "total_score desc", "agent": "agent_id",
         "grade": "grade"}
"""Queue orders a user may pick (items awaiting review always come first)."""


@dataclass(frozen=True, slots=True)
class QueuePage:
    """A page of the queue and how many rows match in all."""

    rows: tuple[QueueRow, ...]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class DisputeRecord:
    """A dispute as shown to users."""

    dispute_id: int
    scorecard_id: int
    call_id: str
    criterion_id: str
    raised_by: str
    reason: str
    status: str
    decided_by: str
    decision_comment: str
    created_at: str
    decided_at: str


@dataclass(frozen=True, slots=True)
class SampleChoice:
    """The sampling plan's pick for one agent on one day."""

    agent_id: str
    day: str
    calls: int
    reviewed_calls: int
    scorecard_id: int | None  # None when the agent already has a reviewed call that day
    call_id: str = ""


@dataclass
class ReviewDesk:
    """Review operations of one tenant (optionally restricted to one agent's calls)."""

    tenant: TenantStore
    rubrics: RubricCatalog
    only_agent: str = ""
    # Calls left out of the queue: those a monitor still scores blind in a calibration
    # session (their grade and fatal flag would give the automated verdicts away).
    hidden_calls: frozenset[str] = frozenset()
    _now: Callable[[], dt.datetime] = field(default=utcnow, repr=False)

    # --- reading ------------------------------------------------------------------------------
    def _cards(self) -> Select[Any]:
        stmt = select(ScorecardRow).where(ScorecardRow.current.is_(True))
        if self.only_agent:
            stmt = stmt.where(ScorecardRow.agent_id == self.only_agent)
        if self.hidden_calls:
            stmt = stmt.where(ScorecardRow.call_id.not_in(sorted(self.hidden_calls)))
        return stmt

    def queue(self, f: QueueFilter, *, offset: int = 0, limit: int = 50,
              sort: str = "newest") -> QueuePage:
        """Current scorecards matching ``f``: items awaiting review first, then in the
        order ``sort`` names (one of :data:`SORTS`; newest first by default).
        """
        if not 1 <= limit <= 500:
            raise ReviewError("limit must be between 1 and 500")
        if sort not in SORTS:
            raise ReviewError(f"sort {sort!r} is not one of {', '.join(SORTS)}")
        stmt = self._cards()
        c = ScorecardRow
        for text_column, value in ((c.team_id, f.team_id), (c.agent_id, f.agent_id),
                                   (c.grade, f.grade), (c.sentiment_end, f.sentiment),
                                   (c.assignee, f.assignee)):
            if value:
                stmt = stmt.where(text_column == value)
        for flag_column, flag in ((c.has_fatal, f.has_fatal), (c.needs_review, f.needs_review),
                                  (c.human_reviewed, f.human_reviewed)):
            if flag is not None:
                stmt = stmt.where(flag_column.is_(flag))
        if f.since is not None:
            stmt = stmt.where(c.started_at_utc >= f.since)
        if f.until is not None:
            stmt = stmt.where(c.started_at_utc < f.until)
        if f.criterion_failed:
            failed = select(ScorecardItemRow.scorecard_id).where(
                ScorecardItemRow.criterion_id == f.criterion_failed,
                ScorecardItemRow.verdict == "fail")
            stmt = stmt.where(c.id.in_(failed))
        with self.tenant.session() as s:
            total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            column, _, direction = SORTS[sort].partition(" ")
            order = getattr(c, column).desc() if direction else getattr(c, column).asc()
            rows = s.scalars(stmt.order_by(c.needs_review.desc(), order, c.id.desc())
                             .offset(offset).limit(limit)).all()
            # Length and direction of the page's calls: one look-up by key for the page.
            extra = {cid: (dur, dirn) for cid, dur, dirn in s.execute(
                select(Call.call_id, Call.duration_s, Call.direction).where(
                    Call.tenant_id == self.tenant.tenant_id,
                    Call.call_id.in_([r.call_id for r in rows]))).tuples()}
            return QueuePage(tuple(_queue_row(r, *extra.get(r.call_id, (None, "")))
                                   for r in rows), total, offset, limit)

    def assign(self, scorecard_ids: list[int], assignee: str, *, actor: str) -> int:
        """Assign calls to a monitor for review (``""`` unassigns); audited per card.

        Raises:
            NotFoundError: a card this desk may not see.
        """
        with self.tenant.session() as s:
            for sid in dict.fromkeys(scorecard_ids):
                row = self._row(s, sid)
                before = row.assignee or ""
                if before == assignee:
                    continue
                row.assignee = assignee
                s.add(AuditEntry(tenant_id=row.tenant_id, actor=actor, action="review.assign",
                                 entity="scorecard", entity_id=str(row.id),
                                 before={"assignee": before}, after={"assignee": assignee},
                                 at=self._now()))
        return len(set(scorecard_ids))

    def next_in_queue(self, scorecard_id: int) -> int | None:
        """The call to review after this one: the newest other call still awaiting a
        completed review (None when there is none).
        """
        c = ScorecardRow
        stmt = (self._cards().with_only_columns(c.id)
                .where(c.human_reviewed.is_(False), c.id != scorecard_id)
                .order_by(c.needs_review.desc(), c.started_at_utc.desc(), c.id.desc())
                .limit(1))
        with self.tenant.session() as s:
            found = s.scalar(stmt)
        return int(found) if found is not None else None

    def _row(self, s: ScopedSession, scorecard_id: int) -> ScorecardRow:
        row = s.get(ScorecardRow, scorecard_id)
        if (row is None or row.tenant_id != self.tenant.tenant_id
                or (self.only_agent and row.agent_id != self.only_agent)):
            # The same answer whether the card is another tenant's or does not exist.
            raise NotFoundError(f"no scorecard {scorecard_id}")
        return row

    def card(self, scorecard_id: int) -> dict[str, Any]:
        """A stored scorecard document with its store id and item ids."""
        with self.tenant.session() as s:
            row = self._row(s, scorecard_id)
            ids = {c: i for c, i in s.execute(
                select(ScorecardItemRow.criterion_id, ScorecardItemRow.id)
                .where(ScorecardItemRow.scorecard_id == row.id)).tuples()}
            doc = dict(self.tenant.unseal(_document(s, row).data))
            doc["scorecard_id"] = row.id
            doc["current"] = row.current
            doc["items"] = [{**i, "item_id": ids.get(i["criterion_id"])} for i in doc["items"]]
            return doc

    def scorecard_id_for_call(self, call_id: str) -> int:
        """The id of a call's current scorecard (NotFoundError unless this desk may see it)."""
        with self.tenant.session() as s:
            sid = s.scalar(self._cards().with_only_columns(ScorecardRow.id)
                           .where(ScorecardRow.call_id == call_id))
        if sid is None:
            raise NotFoundError(f"no scorecard for call {call_id!r}")
        return int(sid)

    # --- reviewing ----------------------------------------------------------------------------
    def review_item(self, scorecard_id: int, criterion_id: str, verdict: str, *,
                    reviewer: str, comment: str = "",
                    utterances: Sequence[int] = ()) -> dict[str, Any]:
        """Confirm or overturn one item; the card is re-scored and the change audited.

        Args:
            scorecard_id: the card.
            criterion_id: the item's criterion.
            verdict: pass / fail / not_applicable.
            reviewer: the user deciding.
            comment: why (required to overturn a fatal item).
            utterances: indices of the call's utterances the reviewer points at as the
                evidence of the verdict (the insult the rules missed; a quoted line that is
                not one). Only the indices are stored.

        Raises:
            ReviewError: a fatal item overturned without a comment saying why, or an
                utterance index the call's conversation does not have.
        """
        pointed = _indices(utterances)
        v = HumanVerdict(verdict, reviewer, comment.strip(), self._stamp(), pointed)
        with self.tenant.session() as s:
            row = self._row(s, scorecard_id)
            item = _item(s, row, criterion_id)
            if (item.severity == "fatal" and verdict != item.provisional_status
                    and not v.comment):
                raise ReviewError(f"overturning the fatal item {criterion_id} needs a comment "
                                  "saying why")
            if pointed:
                conv = s.get(ConversationRow, (row.tenant_id, row.call_id))
                n = len(self.tenant.unseal(conv.data)["utterances"]) if conv is not None else 0
                wrong = [i for i in pointed if i >= n]
                if wrong:
                    raise ReviewError(f"call {row.call_id} has {n} utterances (indices from 0); "
                                      f"no utterance {', '.join(map(str, wrong))}")
            before, new = self._apply_verdict(s, row, item, v)
            after = {**_summary(new, criterion_id), "comment": comment}
            if pointed:
                after["utterances"] = list(pointed)
            s.add(AuditEntry(tenant_id=row.tenant_id, actor=reviewer, action="review.item",
                             entity="scorecard_item", entity_id=f"{row.id}:{criterion_id}",
                             before=before, after=after, at=self._now()))
            return new

    def confirm_remaining(self, scorecard_id: int, *, reviewer: str) -> dict[str, Any]:
        """Confirm the automated verdict of every scored item nobody has reviewed yet, which
        completes the review. Items the pipeline marked ``needs_review`` are not confirmed
        blindly: while any is left undecided, nothing is changed.

        Raises:
            ReviewError: undecided items that need a person's verdict first (named).
        """
        with self.tenant.session() as s:
            row = self._row(s, scorecard_id)
            data = self.tenant.unseal(_document(s, row).data)
            remaining = [i for i in data["items"]
                         if i.get("kind", "error") != "flag" and not i.get("review")]
            unsure = [i["criterion_id"] for i in remaining if i["status"] == "needs_review"]
            if unsure:
                raise ReviewError("decide these items first, they need review: "
                                  + ", ".join(unsure))
            stamp = self._stamp()
            verdicts = {i["criterion_id"]: HumanVerdict(i["provisional_status"] or i["status"],
                                                         reviewer, "confirmed", stamp)
                        for i in remaining}
            new: dict[str, Any] = dict(data)
            for criterion_id, v in verdicts.items():
                item = _item(s, row, criterion_id)
                _, new = self._apply_verdict(s, row, item, v)
            s.add(AuditEntry(tenant_id=row.tenant_id, actor=reviewer,
                             action="review.confirm_remaining", entity="scorecard",
                             entity_id=f"{row.id}:*", before=None,
                             after={"confirmed": sorted(verdicts),
                                    "total_score": new["total_score"], "grade": new["grade"]},
                             at=self._now()))
            return new

    def _stamp(self) -> str:
        return self._now().isoformat(timespec="seconds") + "Z"

    def _apply_verdict(self, s: ScopedSession, row: ScorecardRow, item: ScorecardItemRow,
                       v: HumanVerdict) -> tuple[dict[str, Any], dict[str, Any]]:
        """Record a human verdict on an item and re-score its card; returns the item's
        summary before and the new card.
        """
        doc = _document(s, row)
        data = self.tenant.unseal(doc.data)
        verdicts = {i["criterion_id"]: HumanVerdict(**i["review"]) for i in data["items"]
                    if i.get("review")}
        verdicts[item.criterion_id] = v
        rubric = self.rubrics.get(f"{row.rubric_id}@{row.rubric_version}")
        new = apply_verdicts(data, rubric, verdicts)
        s.add(Review(tenant_id=row.tenant_id, scorecard_item_id=item.id, reviewer=v.reviewer,
                     verdict=v.status, comment=v.comment,
                     utterances=list(v.utterances) or None, created_at=self._now()))
        _set_verdict(s, item, v.status)
        doc.data = self.tenant.seal(new)
        row.total_score = float(new["total_score"])
        row.grade = new["grade"]
        row.has_fatal = bool(new["has_fatal"])
        row.has_non_fatal_error = bool(new["has_non_fatal_error"])
        row.needs_review = bool(new["needs_review"])
        row.human_reviewed = review_complete(new)
        return _summary(data, item.criterion_id), new

    # --- disputes -----------------------------------------------------------------------------
    def raise_dispute(self, scorecard_id: int, criterion_id: str, reason: str, *,
                      raised_by: str) -> int:
        """An agent (or their supervisor) contests one item."""
        if not reason.strip():
            raise ReviewError("a dispute needs a reason")
        with self.tenant.session() as s:
            row = self._row(s, scorecard_id)
            item = _item(s, row, criterion_id)
            item_id = item.id
            doc_item = next(i for i in self.tenant.unseal(_document(s, row).data)["items"]
                            if i["criterion_id"] == criterion_id)
            if doc_item.get("kind", "error") == "flag":
                raise ReviewError(f"{criterion_id} is an observation, not scored: there is "
                                  "nothing to dispute")
            if item.verdict != "fail":
                raise ReviewError(f"{criterion_id} did not fail: only failed items can be "
                                  "disputed")
            if s.scalar(select(Dispute.id).where(Dispute.scorecard_item_id == item_id,
                                                 Dispute.status == "open")) is not None:
                raise ReviewConflictError(f"{criterion_id} of scorecard {scorecard_id} is already "
                                  "disputed")
            d = Dispute(tenant_id=row.tenant_id, scorecard_item_id=item_id, raised_by=raised_by,
                        reason=reason.strip(), status="open", decided_by="",
                        decision_comment="", created_at=self._now())
            s.add(d)
            s.flush()
            s.add(AuditEntry(tenant_id=row.tenant_id, actor=raised_by, action="dispute.raise",
                             entity="dispute", entity_id=str(d.id), before=None,
                             after={"scorecard_id": row.id, "criterion_id": criterion_id,
                                    "reason": d.reason}, at=self._now()))
            return int(d.id)

    def decide_dispute(self, dispute_id: int, decision: str, *, decided_by: str,
                       comment: str = "", verdict: str = "") -> DisputeRecord:
        """The QA decision: ``upheld`` sets the item to ``verdict`` (re-scoring the card),
        ``rejected`` leaves it; both close the dispute and are audited.
        """
        if decision not in DISPUTE_DECISIONS:
            raise ReviewError(f"decision {decision!r} is not one of "
                              f"{', '.join(DISPUTE_DECISIONS)}")
        if decision == "upheld" and not verdict:
            raise ReviewError("an upheld dispute needs the item's new verdict")
        with self.tenant.session() as s:
            d = s.get(Dispute, dispute_id)
            if d is None or d.tenant_id != self.tenant.tenant_id:
                raise NotFoundError(f"no dispute {dispute_id}")
            item = s.get(ScorecardItemRow, d.scorecard_item_id)
            assert item is not None
            row = self._row(s, item.scorecard_id)
            if d.status != "open":
                raise ReviewConflictError(f"dispute {dispute_id} was already {d.status}")
            d.status, d.decided_by, d.decision_comment = decision, decided_by, comment
            d.decided_at = self._now()
            after: dict[str, Any] = {"status": decision, "comment": comment}
            if decision == "upheld":
                v = HumanVerdict(verdict, decided_by, f"dispute {dispute_id}: {comment}",
                                 self._stamp())
                before, new = self._apply_verdict(s, row, item, v)
                after.update(_summary(new, item.criterion_id))
                after["before"] = before
            s.add(AuditEntry(tenant_id=row.tenant_id, actor=decided_by, action="dispute.decide",
                             entity="dispute", entity_id=str(dispute_id),
                             before={"status": "open"}, after=after, at=self._now()))
            s.flush()
            return _dispute_record(d, row, item.criterion_id)

    def disputes(self, *, status: str = "", scorecard_id: int | None = None
                 ) -> list[DisputeRecord]:
        """Disputes (of this desk's view, optionally of one scorecard), newest first."""
        stmt = (select(Dispute, ScorecardRow, ScorecardItemRow.criterion_id)
                .join(ScorecardItemRow, ScorecardItemRow.id == Dispute.scorecard_item_id)
                .join(ScorecardRow, ScorecardRow.id == ScorecardItemRow.scorecard_id)
                .order_by(Dispute.id.desc()))
        if status:
            stmt = stmt.where(Dispute.status == status)
        if scorecard_id is not None:
            stmt = stmt.where(ScorecardRow.id == scorecard_id)
        if self.only_agent:
            stmt = stmt.where(ScorecardRow.agent_id == self.only_agent)
        with self.tenant.session() as s:
            return [_dispute_record(d, r, c) for d, r, c in s.execute(stmt).tuples()]

    # --- sampling and audit -------------------------------------------------------------------
    def sampling_plan(self, day: dt.date) -> list[SampleChoice]:
        """DOMAIN.md asks for at least one monitored call per agent per day: for every agent
        with calls that day (the local day the recorder wrote) and no human-reviewed call
        yet, one call to review, chosen among calls awaiting review when there are any, else
        by a stable hash of the call id (so the plan does not change on reload and is not
        biased toward low scores).
        """
        c = ScorecardRow
        stmt = self._cards().with_only_columns(
            c.id, c.call_id, c.agent_id, c.needs_review, c.human_reviewed).where(
            c.call_day == day.isoformat(), c.agent_id != "")
        by_agent: dict[str, list[tuple[int, str, bool, bool]]] = {}
        with self.tenant.session() as s:
            for sid, call_id, agent, needs_review, reviewed in s.execute(stmt).tuples():
                by_agent.setdefault(agent, []).append((sid, call_id, needs_review, reviewed))
        plan = []
        for agent, rows in sorted(by_agent.items()):
            n_reviewed = sum(r[3] for r in rows)
            pick = None
            if not n_reviewed:
                pick = min(rows, key=lambda r: (not r[2], hashlib.sha256(
                    f"{day.isoformat()}:{r[1]}".encode()).hexdigest()))
            plan.append(SampleChoice(agent, day.isoformat(), len(rows), n_reviewed,
                                     pick[0] if pick else None, pick[1] if pick else ""))
        return plan

    def audit_trail(self, scorecard_id: int) -> list[dict[str, Any]]:
        """Audit entries about one scorecard: its items, disputes, assignments and the
        call's case tags, oldest first.
        """
        with self.tenant.session() as s:
            row = self._row(s, scorecard_id)
            dispute_ids = [str(i) for i in s.scalars(
                select(Dispute.id).join(ScorecardItemRow,
                                        ScorecardItemRow.id == Dispute.scorecard_item_id)
                .where(ScorecardItemRow.scorecard_id == row.id))]
            stmt = select(AuditEntry).where(
                (AuditEntry.entity_id.like(f"{row.id}:%") & (AuditEntry.entity
                                                             == "scorecard_item"))
                | ((AuditEntry.entity == "dispute") & AuditEntry.entity_id.in_(dispute_ids))
                # assignments and "confirm the rest" are about the whole card
                | ((AuditEntry.entity == "scorecard")
                   & AuditEntry.entity_id.in_([str(row.id), f"{row.id}:*"]))
                | ((AuditEntry.entity == "call") & (AuditEntry.entity_id == row.call_id))
            ).order_by(AuditEntry.id)
            return [{"at": e.at.isoformat(timespec="seconds"), "actor": e.actor,
                     "action": e.action, "entity": e.entity, "entity_id": e.entity_id,
                     "before": e.before, "after": e.after} for e in s.scalars(stmt)]


def _item(s: ScopedSession, row: ScorecardRow, criterion_id: str) -> ScorecardItemRow:
    item = s.scalar(select(ScorecardItemRow).where(ScorecardItemRow.scorecard_id == row.id,
                                                   ScorecardItemRow.criterion_id == criterion_id))
    if item is None:
        raise NotFoundError(f"scorecard {row.id} has no criterion {criterion_id!r}")
    return item


def _indices(utterances: Sequence[int]) -> tuple[int, ...]:
    """Pointed utterance indices, checked for shape (whole numbers >= 0), sorted, unique."""
    out = set()
    for i in utterances:
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise ReviewError(f"utterance index {i!r} is not a whole number >= 0")
        out.add(i)
    return tuple(sorted(out))


def _set_verdict(s: ScopedSession, item: ScorecardItemRow, verdict: str) -> None:
    """Record a human verdict and move the item between the failure tallies."""
    bump_failures(s, item.tenant_id, failing_keys([item]), -1)
    item.human_status = item.verdict = verdict
    bump_failures(s, item.tenant_id, failing_keys([item]))


def _document(s: ScopedSession, row: ScorecardRow) -> ScorecardDocument:
    doc = s.get(ScorecardDocument, row.id)
    if doc is None:  # written in the card's own transaction: missing means corruption
        raise NotFoundError(f"scorecard {row.id} has no stored document")
    return doc


def _summary(card: dict[str, Any], criterion_id: str) -> dict[str, Any]:
    item = next(i for i in card["items"] if i["criterion_id"] == criterion_id)
    return {"item_status": item["status"], "total_score": card["total_score"],
            "grade": card["grade"], "has_fatal": card["has_fatal"]}


def _queue_row(r: ScorecardRow, duration_s: float | None = None,
               direction: str = "") -> QueueRow:
    return QueueRow(r.id, r.call_id, r.agent_id, r.team_id,
                    r.started_at_utc.isoformat(timespec="seconds") if r.started_at_utc else "",
                    f"{r.rubric_id}@{r.rubric_version}", round(r.total_score, 2), r.grade,
                    r.has_fatal, r.needs_review, r.human_reviewed, r.sentiment_end,
                    r.call_reason, duration_s, direction or "", r.assignee or "")


def _dispute_record(d: Dispute, row: ScorecardRow, criterion_id: str) -> DisputeRecord:
    return DisputeRecord(d.id, row.id, row.call_id, criterion_id, d.raised_by, d.reason,
                         d.status, d.decided_by, d.decision_comment,
                         d.created_at.isoformat(timespec="seconds"),
                         d.decided_at.isoformat(timespec="seconds") if d.decided_at else "")
