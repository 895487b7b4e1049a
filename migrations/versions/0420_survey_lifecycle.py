"""Survey lifecycle (issue 17): opening and closing times beside the status (draft, open,
closed, archived). Existing surveys keep their status and get no dates, so they stay open.

Revision ID: 0420_survey_lifecycle
Revises: 0410_fit_names
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0420_survey_lifecycle"
down_revision: str | Sequence[str] | None = "0410_fit_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("surveys", sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("surveys", sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), as 0410 does.
    op.drop_column("surveys", "closes_at")
    op.drop_column("surveys", "opens_at")
