"""Initial schema: tenants, people, calls, conversations, scorecards, reviews, audit,
quarantine and stage costs.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 18:46:40.558929
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "agent_assignments",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "agent_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_tenant_at", ["tenant_id", "at"], unique=False)

    op.create_table(
        "business_lines",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_table(
        "calls",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source_uri", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("business_line", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.String(length=40), nullable=False),
        sa.Column("started_at_utc", sa.DateTime(), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("channel_layout", sa.String(length=16), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("config_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "call_id"),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_tenant_sha", ["tenant_id", "sha256"], unique=False)
        batch_op.create_index(
            "ix_calls_tenant_started", ["tenant_id", "started_at_utc"], unique=False
        )

    op.create_table(
        "quarantine",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("source_key", sa.String(length=128), nullable=False),
        sa.Column("source_uri", sa.Text(), nullable=False),
        sa.Column("error_type", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "source_key"),
    )
    op.create_table(
        "stage_costs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("device", sa.String(length=16), nullable=False),
        sa.Column("wall_s", sa.Float(), nullable=False),
        sa.Column("cpu_s", sa.Float(), nullable=False),
        sa.Column("gpu_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "call_id", "run_id", "stage", name="uq_stage_costs"),
    )
    with op.batch_alter_table("stage_costs", schema=None) as batch_op:
        batch_op.create_index("ix_costs_tenant_call", ["tenant_id", "call_id"], unique=False)

    op.create_table(
        "teams",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_table(
        "conversations",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("frontend_key", sa.String(length=64), nullable=False),
        sa.Column("pipeline_version", sa.String(length=32), nullable=False),
        sa.Column("asr_model", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("acoustics", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "call_id"],
            ["calls.tenant_id", "calls.call_id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id", "call_id"),
    )
    op.create_table(
        "scorecards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("rubric_id", sa.String(length=128), nullable=False),
        sa.Column("rubric_version", sa.String(length=32), nullable=False),
        sa.Column("total_score", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=4), nullable=False),
        sa.Column("has_fatal", sa.Boolean(), nullable=False),
        sa.Column("has_non_fatal_error", sa.Boolean(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "call_id"],
            ["calls.tenant_id", "calls.call_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "tenant_id", "call_id", "rubric_id", "rubric_version", name="uq_scorecards_call_rubric"
        ),
    )
    with op.batch_alter_table("scorecards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_scorecards_tenant_created", ["tenant_id", "created_at"], unique=False
        )

    op.create_table(
        "scorecard_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("scorecard_id", sa.Integer(), nullable=False),
        sa.Column("criterion_id", sa.String(length=128), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("points_earned", sa.Float(), nullable=False),
        sa.Column("points_possible", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["scorecard_id"], ["scorecards.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scorecard_items", schema=None) as batch_op:
        batch_op.create_index("ix_items_scorecard", ["scorecard_id"], unique=False)
        batch_op.create_index(
            "ix_items_tenant_criterion", ["tenant_id", "criterion_id", "status"], unique=False
        )

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("scorecard_item_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["scorecard_item_id"], ["scorecard_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reviews_tenant_item", ["tenant_id", "scorecard_item_id"], unique=False
        )


def downgrade() -> None:
    """Drop every table."""
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_reviews_tenant_item")

    op.drop_table("reviews")
    with op.batch_alter_table("scorecard_items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_tenant_criterion")
        batch_op.drop_index("ix_items_scorecard")

    op.drop_table("scorecard_items")
    with op.batch_alter_table("scorecards", schema=None) as batch_op:
        batch_op.drop_index("ix_scorecards_tenant_created")

    op.drop_table("scorecards")
    op.drop_table("conversations")
    op.drop_table("teams")
    with op.batch_alter_table("stage_costs", schema=None) as batch_op:
        batch_op.drop_index("ix_costs_tenant_call")

    op.drop_table("stage_costs")
    op.drop_table("quarantine")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_tenant_started")
        batch_op.drop_index("ix_calls_tenant_sha")

    op.drop_table("calls")
    op.drop_table("business_lines")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_tenant_at")

    op.drop_table("audit_log")
    op.drop_table("agent_assignments")
    op.drop_table("tenants")
    op.drop_table("agents")
