"""Fit jobs record the API key that created them and that key's branch scope (issue 11).

A branch-scoped key's fit only uses rows of its branches and is readable only by keys whose
scope covers it; the owner may cancel or delete it, and per-key job limits count by owner.

Revision ID: 0310_fit_owner
Revises: 0300_response_attributes
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0310_fit_owner"
down_revision: str | Sequence[str] | None = "0300_response_attributes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot add a foreign key to an existing table (the table is rebuilt)
    with op.batch_alter_table("fit_jobs") as batch:
        batch.add_column(sa.Column("owner_key_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("scope", sa.JSON, nullable=True))
        batch.create_foreign_key(
            "fk_fit_jobs_owner_key_id_api_keys",
            "api_keys",
            ["owner_key_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_fit_jobs_owner_key_id", ["owner_key_id"])


def downgrade() -> None:
    with op.batch_alter_table("fit_jobs") as batch:
        batch.drop_index("ix_fit_jobs_owner_key_id")
        batch.drop_constraint("fk_fit_jobs_owner_key_id_api_keys", type_="foreignkey")
        batch.drop_column("scope")
        batch.drop_column("owner_key_id")
