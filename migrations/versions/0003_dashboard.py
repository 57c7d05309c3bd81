"""dashboard: an index on the message time, so that finding the flows that moved recently
(and so the stuck ones: unfinished and silent) reads only the recent end of the log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:30:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_bus_message_time', 'bus_message', ['time'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_bus_message_time', table_name='bus_message')
