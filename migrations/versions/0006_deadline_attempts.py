"""deadline attempts: a deadline whose firing failed is tried again with backoff, and set
aside as failed (visibly) after the last attempt, so it counts its attempts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 12:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('bus_deadline') as batch:
        batch.add_column(sa.Column('attempts', sa.Integer(), nullable=False,
                                   server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('bus_deadline') as batch:
        batch.drop_column('attempts')
