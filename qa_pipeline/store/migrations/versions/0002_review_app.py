"""Review app: users and their tenants, disputes, case tags; scorecards carry the columns the
queue and dashboards filter on, items their provisional and human verdicts, failing items
are tallied per day, agent, team and criterion, and the card's JSON moves to
``scorecard_documents`` so scorecard rows stay small.

Existing rows are backfilled from the stored scorecard JSON and the calls table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 08:40:03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from qa_pipeline.store.summary import (
    best_word_probability,
    call_day,
    call_reason_label,
    customer_end_sentiment,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the new tables, add and backfill the new columns."""
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "user_tenants",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "tenant_id"),
    )
    op.create_table(
        "case_tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("criterion_id", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("tagged_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "call_id"], ["calls.tenant_id", "calls.call_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "call_id", "criterion_id", "label",
                            name="uq_case_tags"),
    )
    with op.batch_alter_table("case_tags") as batch_op:
        batch_op.create_index("ix_case_tags_tenant_label", ["tenant_id", "label"], unique=False)
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("scorecard_item_id", sa.Integer(), nullable=False),
        sa.Column("raised_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decision_comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["scorecard_item_id"], ["scorecard_items.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("disputes") as batch_op:
        batch_op.create_index("ix_disputes_tenant_status", ["tenant_id", "status"], unique=False)

    with op.batch_alter_table("scorecard_items") as batch_op:
        batch_op.add_column(sa.Column("provisional_status", sa.String(length=16),
                                      nullable=False, server_default=""))
        batch_op.add_column(sa.Column("human_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("verdict", sa.String(length=16), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("evidence_confidence", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("current", sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
        for name, length in (("call_day", 10), ("agent_id", 64), ("team_id", 64)):
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False,
                                          server_default=""))
        # (tenant, criterion, status) made the planner walk every item for "top failing".
        batch_op.drop_index("ix_items_tenant_criterion")
        batch_op.create_index("ix_items_human", ["tenant_id", "human_status", "criterion_id",
                                                 "provisional_status", "scorecard_id"],
                              unique=False)
        batch_op.create_index("ix_items_verdict", ["tenant_id", "current", "verdict",
                                                   "call_day", "criterion_id", "severity",
                                                   "agent_id", "team_id"], unique=False)
    with op.batch_alter_table("scorecards") as batch_op:
        batch_op.add_column(sa.Column("current", sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
        batch_op.add_column(sa.Column("agent_id", sa.String(length=64), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("team_id", sa.String(length=64), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("started_at_utc", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("call_day", sa.String(length=10), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("sentiment_end", sa.String(length=16), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("call_reason", sa.String(length=64), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("human_reviewed", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index("ix_scorecards_queue", [
            "tenant_id", "current", "needs_review", "started_at_utc", "agent_id", "team_id",
            "grade", "has_fatal", "sentiment_end", "human_reviewed"], unique=False)
        batch_op.create_index("ix_scorecards_day", [
            "tenant_id", "current", "call_day", "agent_id", "team_id", "has_fatal",
            "has_non_fatal_error", "needs_review", "human_reviewed", "total_score", "grade",
            "call_reason"], unique=False)
    op.create_table(
        "scorecard_documents",
        sa.Column("scorecard_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["scorecard_id"], ["scorecards.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("scorecard_id"),
    )
    op.create_table(
        "failure_tallies",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("call_day", sa.String(length=10), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("criterion_id", sa.String(length=128), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "call_day", "agent_id", "team_id",
                                "criterion_id", "severity"),
    )
    _backfill()
    op.execute("INSERT INTO failure_tallies (tenant_id, call_day, agent_id, team_id, "
               "criterion_id, severity, failures) SELECT tenant_id, call_day, agent_id, "
               "team_id, criterion_id, severity, count(*) FROM scorecard_items "
               "WHERE current AND verdict = 'fail' GROUP BY tenant_id, call_day, agent_id, "
               "team_id, criterion_id, severity")
    op.execute("INSERT INTO failure_tallies (tenant_id, call_day, agent_id, team_id, "
               "criterion_id, severity, failures) SELECT tenant_id, call_day, '*', '*', "
               "criterion_id, severity, count(*) FROM scorecard_items "
               "WHERE current AND verdict = 'fail' GROUP BY tenant_id, call_day, "
               "criterion_id, severity")
    op.execute("INSERT INTO scorecard_documents (scorecard_id, tenant_id, data) "
               "SELECT id, tenant_id, data FROM scorecards")
    with op.batch_alter_table("scorecards") as batch_op:
        batch_op.drop_column("data")


def _backfill() -> None:
    conn = op.get_bind()
    cards = sa.table("scorecards", sa.column("id"), sa.column("tenant_id"), sa.column("call_id"),
                     sa.column("data", sa.JSON), sa.column("current"), sa.column("agent_id"),
                     sa.column("team_id"), sa.column("started_at_utc"),
                     sa.column("call_day"), sa.column("sentiment_end"), sa.column("call_reason"))
    items = sa.table("scorecard_items", sa.column("id"), sa.column("scorecard_id"),
                     sa.column("criterion_id"), sa.column("status"),
                     sa.column("provisional_status"), sa.column("verdict"),
                     sa.column("evidence_confidence"), sa.column("current"),
                     sa.column("call_day"), sa.column("agent_id"), sa.column("team_id"))
    calls = sa.table("calls", sa.column("tenant_id"), sa.column("call_id"),
                     sa.column("agent_id"), sa.column("team_id"),
                     sa.column("started_at_utc", sa.DateTime()))
    newest: dict[tuple[str, str], int] = {}
    rows = conn.execute(sa.select(cards.c.id, cards.c.tenant_id, cards.c.call_id,
                                  cards.c.data)).all()
    for card_id, tenant, call_id, _ in rows:
        key = (tenant, call_id)
        newest[key] = max(newest.get(key, 0), card_id)
    for card_id, tenant, call_id, data in rows:
        call = conn.execute(sa.select(calls.c.agent_id, calls.c.team_id, calls.c.started_at_utc)
                            .where(calls.c.tenant_id == tenant, calls.c.call_id == call_id)
                            ).first()
        shared = {"current": newest[(tenant, call_id)] == card_id,
                  "agent_id": (call.agent_id if call else "") or "",
                  "team_id": (call.team_id if call else "") or "",
                  "call_day": call_day(data or {})}
        conn.execute(cards.update().where(cards.c.id == card_id).values(
            **shared, started_at_utc=call.started_at_utc if call else None,
            sentiment_end=customer_end_sentiment(data or {}),
            call_reason=call_reason_label(data or {})))
        by_criterion = {i.get("criterion_id"): i for i in (data or {}).get("items", [])}
        for item_id, criterion_id, status in conn.execute(
                sa.select(items.c.id, items.c.criterion_id, items.c.status)
                .where(items.c.scorecard_id == card_id)).all():
            item = by_criterion.get(criterion_id, {})
            conn.execute(items.update().where(items.c.id == item_id).values(
                **shared, verdict=status,
                provisional_status=item.get("provisional_status") or item.get("status", ""),
                evidence_confidence=best_word_probability(item)))


def downgrade() -> None:
    """Drop what upgrade added (the JSON moves back into ``scorecards.data``)."""
    with op.batch_alter_table("scorecards") as batch_op:
        batch_op.add_column(sa.Column("data", sa.JSON(), nullable=True))
    op.execute("UPDATE scorecards SET data = (SELECT d.data FROM scorecard_documents d "
               "WHERE d.scorecard_id = scorecards.id)")
    op.drop_table("scorecard_documents")
    op.drop_table("failure_tallies")
    with op.batch_alter_table("scorecards") as batch_op:
        batch_op.drop_index("ix_scorecards_queue")
        batch_op.drop_index("ix_scorecards_day")
        for name in ("human_reviewed", "call_reason", "sentiment_end", "call_day",
                     "started_at_utc", "team_id", "agent_id", "current"):
            batch_op.drop_column(name)
    with op.batch_alter_table("scorecard_items") as batch_op:
        batch_op.drop_index("ix_items_verdict")
        batch_op.drop_index("ix_items_human")
        batch_op.create_index("ix_items_tenant_criterion", ["tenant_id", "criterion_id",
                                                            "status"], unique=False)
        for name in ("team_id", "agent_id", "call_day", "current", "evidence_confidence",
                     "verdict", "human_status", "provisional_status"):
            batch_op.drop_column(name)
    op.drop_table("disputes")
    op.drop_table("case_tags")
    op.drop_table("user_tenants")
    op.drop_table("users")
