"""Fit jobs (issue 4): one row per model fit request, the whole state of the job.

Revision ID: 0200_fit_jobs
Revises: 0100_score_aggregates
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0200_fit_jobs"
down_revision: str | Sequence[str] | None = "0100_score_aggregates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fit_jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("data_fingerprint", sa.String(64), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("runner", sa.String(200), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("heartbeat_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fit_jobs"),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name="fk_fit_jobs_survey_id_surveys",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_fit_jobs_cache_key", "fit_jobs", ["cache_key"])
    op.create_index("ix_fit_jobs_status", "fit_jobs", ["status"])


def downgrade() -> None:
    op.drop_index("ix_fit_jobs_status", table_name="fit_jobs")
    op.drop_index("ix_fit_jobs_cache_key", table_name="fit_jobs")
    op.drop_table("fit_jobs")
