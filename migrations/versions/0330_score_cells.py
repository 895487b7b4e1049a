"""Score aggregates keyed by any dimension (issues 10 and 11): ``score_cells`` replaces
``score_aggregates`` (fixed customer_type/tenure columns) and ``score_rollups``.

One row per survey x dimension x branch x month x value x construct; ``dim`` is ``*`` (the whole
branch-month) or an attribute code. The upgrade fills it from the old aggregates (``*``,
``customer_type`` and ``tenure`` cells per month; a missing value stays ``''``), so no rebuild is
needed;
``pvm aggregates rebuild`` recomputes it from the responses at any time. ``disclosure_keys``
holds each survey's random key of the rounding offsets (app/security/README.md, "Disclosure
control"); the upgrade gives every existing survey one.

The downgrade restores the old tables empty: the cross-classified cells cannot be recovered
from one-dimensional ones; run ``pvm aggregates rebuild`` after it.

Revision ID: 0330_score_cells
Revises: 0310_fit_owner (the lead re-chains)
Create Date: 2026-11-30
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0330_score_cells"
down_revision: str | Sequence[str] | None = "0310_fit_owner"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "score_cells",
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("dim", sa.String(40), nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("construct", sa.String(40), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("sum", sa.Double, nullable=False),
        sa.Column("sumsq", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint(
            "survey_id", "dim", "branch_id", "month", "key", "construct", name="pk_score_cells"
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name="fk_score_cells_survey_id_surveys",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name="fk_score_cells_branch_id_branches"
        ),
    )
    op.create_table(
        "disclosure_keys",
        sa.Column("survey_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("survey_id", name="pk_disclosure_keys"),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name="fk_disclosure_keys_survey_id_surveys",
            ondelete="CASCADE",
        ),
    )
    for dim, column in (("*", None), ("customer_type", "customer_type"), ("tenure", "tenure")):
        key = column or "''"
        group = f"{column}, " if column else ""  # PostgreSQL refuses a constant in GROUP BY
        op.execute(
            "INSERT INTO score_cells (survey_id, dim, branch_id, month, key, construct, n, sum, "
            f"sumsq) SELECT survey_id, '{dim}', branch_id, month, {key}, construct, "
            "SUM(n), SUM(sum), SUM(sumsq) FROM score_aggregates "
            f"GROUP BY survey_id, branch_id, month, {group}construct"
        )
    conn = op.get_bind()
    ids = [row[0] for row in conn.execute(sa.text("SELECT id FROM surveys"))]
    keys = sa.table("disclosure_keys", sa.column("survey_id"), sa.column("key"))
    if ids:
        op.bulk_insert(keys, [{"survey_id": i, "key": os.urandom(32).hex()} for i in ids])
    op.drop_table("score_rollups")
    op.drop_index("ix_score_aggregates_survey_construct", table_name="score_aggregates")
    op.drop_table("score_aggregates")


def downgrade() -> None:
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
    op.drop_table("disclosure_keys")
    op.drop_table("score_cells")
