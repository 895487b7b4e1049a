"""Invitations (issue 17): batches of recipients, one message per recipient with its state,
contact details kept apart from responses; per-branch quotas on surveys.

Revision ID: 0440_invitations
Revises: 0420_survey_lifecycle
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0440_invitations"
down_revision: str | Sequence[str] | None = "0420_survey_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("surveys", sa.Column("quota", sa.JSON(), nullable=True))
    op.create_table(
        "invitation_batches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "survey_id",
            sa.Integer(),
            sa.ForeignKey("surveys.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_key_id", sa.Integer(), nullable=True),
        sa.Column("max_reminders", sa.Integer(), nullable=False),
        sa.Column("remind_after_days", sa.Integer(), nullable=False),
    )
    op.create_index("ix_invitation_batches_survey_id", "invitation_batches", ["survey_id"])
    op.create_table(
        "invitation_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "batch_id",
            sa.String(32),
            sa.ForeignKey("invitation_batches.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "survey_id",
            sa.Integer(),
            sa.ForeignKey("surveys.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("branch_id", sa.Integer(), sa.ForeignKey("branches.id"), nullable=False),
        sa.Column(
            "token_id",
            sa.Integer(),
            sa.ForeignKey("invitation_tokens.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("link", sa.String(1000), nullable=True),
        sa.Column("contacts_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_invitation_messages_batch_id", "invitation_messages", ["batch_id"])
    op.create_index(
        "ix_invitation_messages_due", "invitation_messages", ["state", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("invitation_messages")
    op.drop_table("invitation_batches")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), as 0410 does.
    op.drop_column("surveys", "quota")
