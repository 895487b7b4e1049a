"""Fit jobs may carry a name given by the researcher (issue 14: fits as a collection).

The name is not part of the fit's spec (it does not change the cache key); listing a survey's
fits (``GET /api/v1/surveys/{slug}/fits``) pages them newest first, hence the index.

Revision ID: 0410_fit_names
Revises: 0400_branch_names
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0410_fit_names"
down_revision: str | Sequence[str] | None = "0400_branch_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("fit_jobs", sa.Column("name", sa.String(200), nullable=True))
    op.create_index("ix_fit_jobs_survey_created", "fit_jobs", ["survey_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_fit_jobs_survey_created", table_name="fit_jobs")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), as 0340 does.
    op.drop_column("fit_jobs", "name")
