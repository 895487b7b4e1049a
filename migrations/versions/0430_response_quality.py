"""Response quality and partial responses (issue 17, deliverables 5 and 6).

Responses get their completion time, quality flags and the keyed digests of device cookie and
invitation token that reveal duplicates; surveys get their quality thresholds (NULL: the stated
defaults); partial_responses holds the pages answered so far of a questionnaire opened with an
invitation token. Existing responses are unmeasured and unflagged.

Revision ID: 0430_response_quality
Revises: 0420_survey_lifecycle
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0430_response_quality"
down_revision: str | Sequence[str] | None = "0440_invitations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("surveys", sa.Column("speeder_seconds_per_item", sa.Float(), nullable=True))
    op.add_column("surveys", sa.Column("straightline_items", sa.Integer(), nullable=True))
    op.add_column("responses", sa.Column("duration_seconds", sa.Integer(), nullable=True))
    op.add_column("responses", sa.Column("flags", sa.JSON(), nullable=True))
    op.add_column(
        "responses",
        sa.Column("flagged", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("responses", sa.Column("device_key", sa.String(64), nullable=True))
    op.add_column("responses", sa.Column("token_key", sa.String(64), nullable=True))
    op.create_index("ix_responses_survey_device", "responses", ["survey_id", "device_key"])
    op.create_index("ix_responses_survey_token", "responses", ["survey_id", "token_key"])
    op.create_table(
        "partial_responses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "survey_id",
            sa.Integer(),
            sa.ForeignKey("surveys.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("branch_id", sa.Integer(), sa.ForeignKey("branches.id"), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("next_page", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("survey_id", "token_hash"),
    )


def downgrade() -> None:
    op.drop_table("partial_responses")
    op.drop_index("ix_responses_survey_token", "responses")
    op.drop_index("ix_responses_survey_device", "responses")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), as 0410 does.
    for name in ("token_key", "device_key", "flagged", "flags", "duration_seconds"):
        op.drop_column("responses", name)
    op.drop_column("surveys", "straightline_items")
    op.drop_column("surveys", "speeder_seconds_per_item")
