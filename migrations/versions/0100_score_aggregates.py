"""Maintained score aggregates for the operators' pages (issue 6).

Sufficient statistics (n, sum, sumsq) of respondent construct scores per survey x branch x
customer_type x tenure x month x construct, and their roll-ups per branch x one dimension; filled by ``pvm aggregates rebuild`` for existing
responses and kept current in the transaction of every response insert.

Revision ID: 0100_score_aggregates
Revises: 0001_initial
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0100_score_aggregates"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "score_aggregates",
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("customer_type", sa.String(32), nullable=False),
        sa.Column("tenure", sa.String(32), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("construct", sa.String(32), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("sum", sa.Double, nullable=False),
        sa.Column("sumsq", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint(
            "survey_id",
            "branch_id",
            "customer_type",
            "tenure",
            "month",
            "construct",
            name="pk_score_aggregates",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name="fk_score_aggregates_survey_id_surveys",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name="fk_score_aggregates_branch_id_branches"
        ),
    )
    op.create_index(
        "ix_score_aggregates_survey_construct",
        "score_aggregates",
        ["survey_id", "construct", "branch_id"],
    )
    op.create_table(
        "score_rollups",
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("dim", sa.String(16), nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("construct", sa.String(32), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("sum", sa.Double, nullable=False),
        sa.Column("sumsq", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint(
            "survey_id", "dim", "branch_id", "key", "construct", name="pk_score_rollups"
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name="fk_score_rollups_survey_id_surveys",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name="fk_score_rollups_branch_id_branches"
        ),
    )


def downgrade() -> None:
    op.drop_table("score_rollups")
    op.drop_index("ix_score_aggregates_survey_construct", table_name="score_aggregates")
    op.drop_table("score_aggregates")
