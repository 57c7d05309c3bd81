"""hardening: dashboard logins kept on the server (http_login), so that logging out ends a
login in every process, whoever holds a copy of its cookie.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'http_login',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=43), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_http_login_expires_at'), 'http_login', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_http_login_expires_at'), table_name='http_login')
    op.drop_table('http_login')
