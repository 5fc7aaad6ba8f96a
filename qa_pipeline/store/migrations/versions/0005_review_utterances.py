"""The utterances a reviewer points at as the evidence of their verdict: ``reviews.utterances``
holds their indices in the call's stored conversation (never their text, which stays under
the tenant's redaction policy). Old reviews have none (NULL).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``reviews.utterances``."""
    with op.batch_alter_table("reviews") as batch_op:
        batch_op.add_column(sa.Column("utterances", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("reviews") as batch_op:
        batch_op.drop_column("utterances")
