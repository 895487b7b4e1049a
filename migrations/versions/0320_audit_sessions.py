"""Audit log, dashboard sessions, salted API key hashes, token -> response links (issue 11).

* ``audit_events``: who (key id) did what, when (app/audit).
* ``dashboard_sessions``: the dashboard cookie holds a session id; the table its sha256.
* ``api_keys.salt``: keys were stored as unsalted sha256; now as HMAC-SHA256 under a random
  per-key salt *of that sha256* (app.auth.service.salted), so this migration converts every
  stored hash in place without knowing any key, and existing keys keep working. The downgrade
  cannot restore unsalted hashes: it revokes every key (create new ones after downgrading).
* ``invitation_tokens.response_id``: the response a token was used for (erasure by token).

Revision ID: 0320_audit_sessions
Revises: 0330_score_cells
Create Date: 2026-11-30
"""

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0320_audit_sessions"
down_revision: str | Sequence[str] | None = "0330_score_cells"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
KEYS = sa.table(
    "api_keys",
    sa.column("id", sa.Integer),
    sa.column("key_hash", sa.String),
    sa.column("salt", sa.String),
    sa.column("revoked_at", TZ),
)


def salted(salt: str, digest: str) -> str:
    # Frozen copy of app.auth.service.salted (a migration must not change with the app).
    return hmac.new(salt.encode("ascii"), digest.encode("ascii"), hashlib.sha256).hexdigest()


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("key_id", sa.Integer, nullable=True),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name="fk_audit_events_key_id_api_keys",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_dashboard_sessions"),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name="fk_dashboard_sessions_key_id_api_keys",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_dashboard_sessions_key_id", "dashboard_sessions", ["key_id"])
    op.create_index("ix_dashboard_sessions_expires_at", "dashboard_sessions", ["expires_at"])

    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("salt", sa.String(32), nullable=True))
    conn = op.get_bind()
    for key_id, legacy in conn.execute(sa.select(KEYS.c.id, KEYS.c.key_hash)).all():
        salt = secrets.token_hex(16)
        conn.execute(
            KEYS.update()
            .where(KEYS.c.id == key_id)
            .values(salt=salt, key_hash=salted(salt, legacy))
        )
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("salt", existing_type=sa.String(32), nullable=False)

    with op.batch_alter_table("invitation_tokens") as batch:
        batch.add_column(sa.Column("response_id", sa.Uuid, nullable=True))
        batch.create_foreign_key(
            "fk_invitation_tokens_response_id_responses",
            "responses",
            ["response_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("invitation_tokens") as batch:
        batch.drop_constraint("fk_invitation_tokens_response_id_responses", type_="foreignkey")
        batch.drop_column("response_id")
    # The salted hashes cannot be turned back into unsalted ones: every key is revoked.
    op.get_bind().execute(
        KEYS.update().where(KEYS.c.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC))
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("salt")
    op.drop_index("ix_dashboard_sessions_expires_at", table_name="dashboard_sessions")
    op.drop_index("ix_dashboard_sessions_key_id", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_index("ix_audit_events_action", table_name="audit_events")
    op.drop_table("audit_events")
