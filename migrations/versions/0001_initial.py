"""Initial schema: branches, instruments, surveys, responses, API keys, invitation tokens.

Hand-written and portable between SQLite and PostgreSQL (generic types only; constraint names
follow app.db.NAMING_CONVENTION).

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "branches",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("region", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_branches"),
        sa.UniqueConstraint("code", name="uq_branches_code"),
    )
    op.create_table(
        "instruments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", "version", name="pk_instruments"),
    )
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("instrument_version", sa.Integer, nullable=False),
        sa.Column("title", sa.JSON, nullable=False),
        sa.Column("min_group_size", sa.Integer, nullable=False),
        sa.Column("requires_token", sa.Boolean, nullable=False),
        sa.Column("anonymous", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_surveys"),
        sa.UniqueConstraint("slug", name="uq_surveys_slug"),
        sa.ForeignKeyConstraint(
            ["instrument_id", "instrument_version"],
            ["instruments.id", "instruments.version"],
            name="fk_surveys_instrument_id_instruments",
        ),
    )
    op.create_table(
        "responses",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("submitted_at", TZ, nullable=False),
        sa.Column("customer_type", sa.String(32), nullable=True),
        sa.Column("tenure", sa.String(32), nullable=True),
        sa.Column("lang", sa.String(8), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(400), nullable=True),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_responses"),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name="fk_responses_survey_id_surveys",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name="fk_responses_branch_id_branches"
        ),
        sa.UniqueConstraint(
            "survey_id", "idempotency_key", name="uq_responses_survey_id_idempotency_key"
        ),
    )
    op.create_index("ix_responses_survey_branch", "responses", ["survey_id", "branch_id"])
    op.create_index("ix_responses_survey_submitted", "responses", ["survey_id", "submitted_at"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("branches", sa.JSON, nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    op.create_table(
        "invitation_tokens",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_invitation_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_invitation_tokens_token_hash"),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name="fk_invitation_tokens_survey_id_surveys",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name="fk_invitation_tokens_branch_id_branches"
        ),
    )
    op.create_index(
        "ix_invitation_tokens_survey_id", "invitation_tokens", ["survey_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_invitation_tokens_survey_id", table_name="invitation_tokens")
    op.drop_table("invitation_tokens")
    op.drop_table("api_keys")
    op.drop_index("ix_responses_survey_submitted", table_name="responses")
    op.drop_index("ix_responses_survey_branch", table_name="responses")
    op.drop_table("responses")
    op.drop_table("surveys")
    op.drop_table("instruments")
    op.drop_table("branches")
