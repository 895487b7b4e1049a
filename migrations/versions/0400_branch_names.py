"""Branches have a name per language: ``names`` {lang: name} beside the one ``name``.

Revision ID: 0400_branch_names
Revises: 0340_instrument_source
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0400_branch_names"
down_revision: str | Sequence[str] | None = "0340_instrument_source"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("branches", sa.Column("names", sa.JSON, nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch rebuild of the table would
    # drop it first, which the responses' foreign key refuses.
    op.drop_column("branches", "names")
