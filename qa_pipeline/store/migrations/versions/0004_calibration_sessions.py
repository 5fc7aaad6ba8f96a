"""Blind calibration sessions (monitors score the same calls apart from their scorecards),
the interface language stored on the user, and observation flags written by old versions
made to read as flags.

Item rows of observation flags written before flags were kept apart carry the criterion's
``non_fatal`` / ``fatal`` severity, so old failing flags still counted as agent failures
in "top failing criteria". A criterion's kind is fixed within a rubric version, so the
flags of each rubric version are read from one of its plain (not encrypted) scorecard
documents and every item row of that version is corrected; the failure tallies are then
rebuilt without flags.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TALLY_SOURCES = (
    ("agent_id, team_id", "tenant_id, call_day, agent_id, team_id, criterion_id, severity"),
    ("'*', '*'", "tenant_id, call_day, criterion_id, severity"),
)


def upgrade() -> None:
    """Create the session tables, add ``users.language``, correct old flag rows."""
    op.create_table(
        "calibration_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_calibration_sessions_tenant", "calibration_sessions",
                    ["tenant_id", "id"], unique=False)
    op.create_table(
        "calibration_session_calls",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("scorecard_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["calibration_sessions.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id", "call_id"),
    )
    op.create_table(
        "calibration_session_monitors",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["calibration_sessions.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id", "user_id"),
    )
    op.create_index("ix_calibration_monitors_user", "calibration_session_monitors",
                    ["tenant_id", "user_id"], unique=False)
    op.create_table(
        "calibration_session_verdicts",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("criterion_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["calibration_sessions.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id", "user_id", "call_id", "criterion_id"),
    )
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=False,
                                      server_default=""))
    if mark_old_flag_rows(op.get_bind()):
        rebuild_failure_tallies(op.get_bind())


def mark_old_flag_rows(conn: sa.Connection) -> int:
    """Set ``severity = 'flag'`` on item rows of observation flags; how many changed.

    Rubric versions whose every document is encrypted cannot be read here; their rows are
    corrected when their calls are scored again.
    """
    from qa_pipeline.privacy.vault import is_sealed

    cards = sa.table("scorecards", sa.column("id"), sa.column("rubric_id"),
                     sa.column("rubric_version"))
    docs = sa.table("scorecard_documents", sa.column("scorecard_id"),
                    sa.column("data", sa.JSON))
    items = sa.table("scorecard_items", sa.column("scorecard_id"), sa.column("criterion_id"),
                     sa.column("severity"))
    versions = conn.execute(sa.select(cards.c.rubric_id, cards.c.rubric_version)
                            .distinct()).all()
    changed = 0
    for rubric_id, version in versions:
        of_version = sa.select(cards.c.id).where(cards.c.rubric_id == rubric_id,
                                                 cards.c.rubric_version == version)
        flags: set[str] | None = None
        # A few documents suffice: a tenant's documents are all encrypted or none.
        for (data,) in conn.execute(sa.select(docs.c.data).where(
                docs.c.scorecard_id.in_(of_version)).order_by(docs.c.scorecard_id.desc())
                .limit(20)).all():
            if isinstance(data, dict) and not is_sealed(data):
                flags = {str(i.get("criterion_id")) for i in data.get("items") or ()
                         if i.get("kind") == "flag"}
                break
        if not flags:
            continue
        result = conn.execute(items.update().where(
            items.c.scorecard_id.in_(of_version), items.c.criterion_id.in_(sorted(flags)),
            items.c.severity != "flag").values(severity="flag"))
        changed += int(result.rowcount or 0)
    return changed


def rebuild_failure_tallies(conn: sa.Connection) -> None:
    """Recount the failing items of current cards, observation flags left out."""
    conn.execute(sa.text("DELETE FROM failure_tallies"))
    for people, group in _TALLY_SOURCES:
        conn.execute(sa.text(
            "INSERT INTO failure_tallies (tenant_id, call_day, agent_id, team_id, "
            f"criterion_id, severity, failures) SELECT tenant_id, call_day, {people}, "
            "criterion_id, severity, count(*) FROM scorecard_items WHERE current AND "
            f"verdict = 'fail' AND severity <> 'flag' GROUP BY {group}"))


def downgrade() -> None:
    """Drop what upgrade added (flag rows keep ``severity = 'flag'``, which old code reads
    as a severity it does not count).
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("language")
    op.drop_table("calibration_session_verdicts")
    op.drop_index("ix_calibration_monitors_user", table_name="calibration_session_monitors")
    op.drop_table("calibration_session_monitors")
    op.drop_table("calibration_session_calls")
    op.drop_index("ix_calibration_sessions_tenant", table_name="calibration_sessions")
    op.drop_table("calibration_sessions")
