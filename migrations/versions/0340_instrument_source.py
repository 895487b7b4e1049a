"""Instrument versions record where they came from (file, api, cli) and the uploading key.

Revision ID: 0340_instrument_source
Revises: 0320_audit_sessions
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0340_instrument_source"
down_revision: str | Sequence[str] | None = "0320_audit_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("instruments", sa.Column("source", sa.String(16), nullable=True))
    op.add_column("instruments", sa.Column("uploaded_by_key_id", sa.Integer, nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch rebuild of the table would
    # drop it first, which the surveys' foreign key refuses.
    op.drop_column("instruments", "uploaded_by_key_id")
    op.drop_column("instruments", "source")
