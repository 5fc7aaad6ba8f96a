"""The relational schema (SQLAlchemy 2 declarative). Migrations live in ``migrations/``;
``tests/unit/test_store.py`` checks that they build exactly these tables.

Every tenant-owned table carries ``tenant_id`` as the first column of its key or of an
index, so every query the repository makes is a tenant-prefixed index scan.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    """Now in UTC, naive: every timestamp column holds naive UTC, because SQLite drops
    offsets and the same comparisons must hold on PostgreSQL.
    """
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class TenantOwned:
    """Marker mix-in: rows that belong to one tenant (the guard scopes every query)."""

    tenant_id: Mapped[str]


class Tenant(Base):
    """A client company of the center (租方)."""

    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)


class BusinessLine(TenantOwned, Base):
    """A tenant's line of business (业务): the unit costs are billed to."""

    __tablename__ = "business_lines"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class Team(TenantOwned, Base):
    """A team of agents working for a tenant."""

    __tablename__ = "teams"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class Agent(Base):
    """A person; not tenant-owned, because one agent may serve several tenants."""

    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class AgentAssignment(TenantOwned, Base):
    """An agent serving a tenant (in one of its teams)."""

    __tablename__ = "agent_assignments"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64), default="")


class Call(TenantOwned, Base):
    """One recording and what the recorder/CRM knows about it."""

    __tablename__ = "calls"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    source_uri: Mapped[str] = mapped_column(Text, default="")
    agent_id: Mapped[str] = mapped_column(String(64), default="")
    team_id: Mapped[str] = mapped_column(String(64), default="")
    business_line: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[str] = mapped_column(String(40), default="")  # as the recorder wrote it
    started_at_utc: Mapped[dt.datetime | None] = mapped_column(DateTime(), nullable=True)
    direction: Mapped[str] = mapped_column(String(16), default="")
    channel_layout: Mapped[str] = mapped_column(String(16), default="")
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    language: Mapped[str] = mapped_column(String(16), default="")
    config_key: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow,
                                                    onupdate=utcnow)
    __table_args__ = (Index("ix_calls_tenant_sha", "tenant_id", "sha256"),
                      Index("ix_calls_tenant_started", "tenant_id", "started_at_utc"))


class ConversationRow(TenantOwned, Base):
    """The front end's output for a call (``conversation.json`` + acoustic features)."""

    __tablename__ = "conversations"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    frontend_key: Mapped[str] = mapped_column(String(64))
    pipeline_version: Mapped[str] = mapped_column(String(32))
    asr_model: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    acoustics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "call_id"],
                                           ["calls.tenant_id", "calls.call_id"]),)


class ScorecardRow(TenantOwned, Base):
    """A call's scorecard under one rubric version (re-scoring adds a row per version).

    The JSON document lives in :class:`ScorecardDocument`: kept out of this table, rows stay
    small, so the queue and the dashboards scan 100,000 cards without reading (in SQLite,
    without paging through) 15 KB of JSON each.

    ``current`` marks the newest card of each call (what queues and KPIs count); the call's
    agent, team, start time and day, the customer's closing sentiment and the work-order
    type are copied here so the review queue and the dashboards filter and group one table
    through tenant-prefixed indexes.
    """

    __tablename__ = "scorecards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(128))
    rubric_id: Mapped[str] = mapped_column(String(128))
    rubric_version: Mapped[str] = mapped_column(String(32))
    total_score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(4))
    has_fatal: Mapped[bool] = mapped_column(Boolean)
    has_non_fatal_error: Mapped[bool] = mapped_column(Boolean)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    run_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    agent_id: Mapped[str] = mapped_column(String(64), default="")
    team_id: Mapped[str] = mapped_column(String(64), default="")
    started_at_utc: Mapped[dt.datetime | None] = mapped_column(DateTime(), nullable=True)
    # The call's date as the recorder wrote it (local to the center): KPI days.
    call_day: Mapped[str] = mapped_column(String(10), default="")
    sentiment_end: Mapped[str] = mapped_column(String(16), default="")
    call_reason: Mapped[str] = mapped_column(String(64), default="")
    human_reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The QA monitor this call is assigned to for review ("" when nobody).
    assignee: Mapped[str] = mapped_column(String(64), default="", server_default="")
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "call_id"], ["calls.tenant_id", "calls.call_id"]),
        UniqueConstraint("tenant_id", "call_id", "rubric_id", "rubric_version",
                         name="uq_scorecards_call_rubric"),
        Index("ix_scorecards_tenant_created", "tenant_id", "created_at"),
        # The queue's order, with every filter column, so filtering and counting never read
        # the table (only the page's 50 rows are fetched).
        Index("ix_scorecards_queue", "tenant_id", "current", "needs_review", "started_at_utc",
              "agent_id", "team_id", "grade", "has_fatal", "sentiment_end", "human_reviewed"),
        # Covers the dashboards' KPI, grade, coverage and work-order aggregates over a period.
        Index("ix_scorecards_day", "tenant_id", "current", "call_day", "agent_id", "team_id",
              "has_fatal", "has_non_fatal_error", "needs_review", "human_reviewed",
              "total_score", "grade", "call_reason"),
        Index("ix_scorecards_assignee", "tenant_id", "assignee", "current"),
    )


class ScorecardDocument(TenantOwned, Base):
    """The full scorecard JSON (``Scorecard.to_dict()``, with any human reviews applied)."""

    __tablename__ = "scorecard_documents"
    scorecard_id: Mapped[int] = mapped_column(ForeignKey("scorecards.id", ondelete="CASCADE"),
                                              primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class ScorecardItemRow(TenantOwned, Base):
    """One criterion's outcome (denormalised for queue filters and calibration).

    ``status`` is the automated status (``needs_review`` included), ``provisional_status``
    the rule's own verdict, ``human_status`` the latest human verdict (None until reviewed),
    ``verdict`` the one that counts (the human's, else the automated status) and
    ``evidence_confidence`` the best word probability among the quoted evidence (None
    without quotes), which ranks exemplars for the case library. The card's ``current``
    flag, day, agent and team are repeated here so "top failing criteria" is one index
    range over failing items, not a join through a million item rows.
    """

    __tablename__ = "scorecard_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    scorecard_id: Mapped[int] = mapped_column(ForeignKey("scorecards.id", ondelete="CASCADE"))
    criterion_id: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    points_earned: Mapped[float] = mapped_column(Float)
    points_possible: Mapped[float] = mapped_column(Float)
    provisional_status: Mapped[str] = mapped_column(String(16), default="")
    human_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    verdict: Mapped[str] = mapped_column(String(16), default="")
    evidence_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    call_day: Mapped[str] = mapped_column(String(10), default="")
    agent_id: Mapped[str] = mapped_column(String(64), default="")
    team_id: Mapped[str] = mapped_column(String(64), default="")
    __table_args__ = (Index("ix_items_scorecard", "scorecard_id"),
                      # Reviewed items only (calibration); the rest have human_status NULL.
                      Index("ix_items_human", "tenant_id", "human_status", "criterion_id",
                            "provisional_status", "scorecard_id"),
                      Index("ix_items_verdict", "tenant_id", "current", "verdict",
                            "call_day", "criterion_id", "severity", "agent_id", "team_id"))


class FailureTally(TenantOwned, Base):
    """Failing items of current cards per day, agent, team and criterion, kept in step with
    the items (new cards, superseded cards, reviews, purges) so "top failing criteria"
    reads hundreds of tally rows instead of hundreds of thousands of item rows.
    """

    __tablename__ = "failure_tallies"
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_day: Mapped[str] = mapped_column(String(10), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    criterion_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class Review(TenantOwned, Base):
    """A human verdict on one scorecard item."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    scorecard_item_id: Mapped[int] = mapped_column(ForeignKey("scorecard_items.id",
                                                              ondelete="CASCADE"))
    reviewer: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    # Indices of the utterances the reviewer pointed at as evidence (never their text).
    utterances: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)
    __table_args__ = (Index("ix_reviews_tenant_item", "tenant_id", "scorecard_item_id"),)


class Dispute(TenantOwned, Base):
    """An agent's appeal against one scorecard item and the QA decision on it (终审)."""

    __tablename__ = "disputes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    scorecard_item_id: Mapped[int] = mapped_column(ForeignKey("scorecard_items.id",
                                                              ondelete="CASCADE"))
    raised_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(), nullable=True)
    __table_args__ = (Index("ix_disputes_tenant_status", "tenant_id", "status"),)


class CaseTag(TenantOwned, Base):
    """A trainer's mark on a call: a good or bad example (of one criterion or overall)."""

    __tablename__ = "case_tags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(128))
    criterion_id: Mapped[str] = mapped_column(String(128), default="")
    label: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text, default="")
    tagged_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "call_id"], ["calls.tenant_id", "calls.call_id"]),
        UniqueConstraint("tenant_id", "call_id", "criterion_id", "label", name="uq_case_tags"),
        Index("ix_case_tags_tenant_label", "tenant_id", "label"),
    )


class AuditEntry(TenantOwned, Base):
    """Who changed what, when, from what to what."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(128))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    __table_args__ = (Index("ix_audit_tenant_at", "tenant_id", "at"),)


class QuarantineEntry(TenantOwned, Base):
    """An input that failed, with the reason; one row per input however often it is retried."""

    __tablename__ = "quarantine"
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    source_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    source_uri: Mapped[str] = mapped_column(Text)
    error_type: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow,
                                                    onupdate=utcnow)


class StageCost(TenantOwned, Base):
    """Seconds one stage spent on one call in one run (billing per tenant / business line)."""

    __tablename__ = "stage_costs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    call_id: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))
    device: Mapped[str] = mapped_column(String(16))
    wall_s: Mapped[float] = mapped_column(Float)
    cpu_s: Mapped[float] = mapped_column(Float)
    gpu_s: Mapped[float] = mapped_column(Float)
    __table_args__ = (
        UniqueConstraint("tenant_id", "call_id", "run_id", "stage", name="uq_stage_costs"),
        Index("ix_costs_tenant_call", "tenant_id", "call_id"),
    )


class User(Base):
    """A person who signs in to the review app. Not tenant-owned: access to tenants is
    granted row by row in ``user_tenants``; ``agent_id`` links an ``agent`` user to the
    calls they took.
    """

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str] = mapped_column(String(64), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)
    # The interface language the user chose ("" until they choose: their tenant's default).
    language: Mapped[str] = mapped_column(String(8), default="", server_default="")


class UserTenant(Base):
    """One tenant a user may see."""

    __tablename__ = "user_tenants"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)


class CalibrationSession(TenantOwned, Base):
    """A blind calibration session: invited monitors score the same calls, apart from the
    calls' scorecards, and their agreement is compared per criterion.
    """

    __tablename__ = "calibration_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    title: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(), default=utcnow)
    closed_by: Mapped[str] = mapped_column(String(64), default="")
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(), nullable=True)
    __table_args__ = (Index("ix_calibration_sessions_tenant", "tenant_id", "id"),)


class CalibrationSessionCall(TenantOwned, Base):
    """A call of a session, with the scorecard whose automated verdicts it is compared to."""

    __tablename__ = "calibration_session_calls"
    session_id: Mapped[int] = mapped_column(
        ForeignKey("calibration_sessions.id", ondelete="CASCADE"), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    scorecard_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)


class CalibrationSessionMonitor(TenantOwned, Base):
    """A monitor invited to a session; ``submitted_at`` is set when they hand in."""

    __tablename__ = "calibration_session_monitors"
    session_id: Mapped[int] = mapped_column(
        ForeignKey("calibration_sessions.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(), nullable=True)
    __table_args__ = (Index("ix_calibration_monitors_user", "tenant_id", "user_id"),)


class CalibrationSessionVerdict(TenantOwned, Base):
    """One monitor's verdict on one criterion of one call of a session (never a review:
    it changes no scorecard and no coverage).
    """

    __tablename__ = "calibration_session_verdicts"
    session_id: Mapped[int] = mapped_column(
        ForeignKey("calibration_sessions.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    criterion_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")


TENANT_OWNED: tuple[type[Base], ...] = (
    BusinessLine, Team, AgentAssignment, Call, ConversationRow, ScorecardRow, ScorecardDocument,
    ScorecardItemRow, FailureTally, Review, Dispute, CaseTag, AuditEntry, QuarantineEntry,
    StageCost, CalibrationSession, CalibrationSessionCall, CalibrationSessionMonitor,
    CalibrationSessionVerdict)
