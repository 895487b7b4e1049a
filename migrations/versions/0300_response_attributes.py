"""Respondent attributes as data (issue 10): ``responses.attributes`` replaces the fixed
``customer_type`` and ``tenure`` columns, and ``responses.texts`` holds open-text answers.

Revision ID: 0300_response_attributes
Revises: 0200_fit_jobs
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0300_response_attributes"
down_revision: str | Sequence[str] | None = "0200_fit_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5_000
MOVED = ("customer_type", "tenure")


def _responses(*columns: str) -> sa.Table:
    return sa.table(
        "responses",
        sa.column("id", sa.Uuid),
        *(sa.column(c, sa.JSON if c == "attributes" else sa.String) for c in columns),
    )


def upgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("attributes", sa.JSON, nullable=True))
        batch.add_column(sa.Column("texts", sa.JSON, nullable=True))
    conn = op.get_bind()
    old = _responses(*MOVED)
    new = _responses("attributes")
    rows = conn.execute(sa.select(old.c.id, *(old.c[c] for c in MOVED))).all()
    for start in range(0, len(rows), CHUNK):
        conn.execute(
            new.update().where(new.c.id == sa.bindparam("rid")),
            [
                {"rid": r[0], "attributes": {c: v for c, v in zip(MOVED, r[1:]) if v}}
                for r in rows[start : start + CHUNK]
            ],
        )
    with op.batch_alter_table("responses") as batch:
        batch.alter_column("attributes", existing_type=sa.JSON, nullable=False)
        for c in MOVED:
            batch.drop_column(c)


def downgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        for c in MOVED:
            batch.add_column(sa.Column(c, sa.String(32), nullable=True))
    conn = op.get_bind()
    old = _responses(*MOVED)
    new = _responses("attributes")
    rows = conn.execute(sa.select(new.c.id, new.c.attributes)).all()
    for start in range(0, len(rows), CHUNK):
        conn.execute(
            old.update().where(old.c.id == sa.bindparam("rid")),
            [
                {"rid": r[0], **{c: (r[1] or {}).get(c) for c in MOVED}}
                for r in rows[start : start + CHUNK]
            ],
        )
    with op.batch_alter_table("responses") as batch:
        batch.drop_column("texts")
        batch.drop_column("attributes")
