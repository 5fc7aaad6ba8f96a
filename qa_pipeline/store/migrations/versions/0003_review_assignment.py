"""Review assignment: a scorecard may be assigned to a QA monitor, whose queue can show only
the calls assigned to them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 21:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``scorecards.assignee`` and its queue index."""
    with op.batch_alter_table("scorecards") as batch_op:
        batch_op.add_column(sa.Column("assignee", sa.String(length=64), nullable=False,
                                      server_default=""))
        batch_op.create_index("ix_scorecards_assignee", ["tenant_id", "assignee", "current"],
                              unique=False)


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("scorecards") as batch_op:
        batch_op.drop_index("ix_scorecards_assignee")
        batch_op.drop_column("assignee")
