"""dashboard: an index on the message time, so that finding the flows that moved recently
(and so the stuck ones: unfinished and silent) reads only the recent end of the log; indexes
that find a page's blocked flows (parked deliveries, failed deadlines) and an order's open
tasks by seeking, not by reading every parked, failed or open row (bench/pages.py, cold cache).

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
    op.create_index('ix_bus_delivery_status_flow', 'bus_delivery', ['status', 'flowid'])
    op.create_index('ix_bus_deadline_status_flow', 'bus_deadline', ['status', 'flowid'])
    op.create_index('ix_payment_task_order_status', 'payment_task', ['order_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_payment_task_order_status', table_name='payment_task')
    op.drop_index('ix_bus_deadline_status_flow', table_name='bus_deadline')
    op.drop_index('ix_bus_delivery_status_flow', table_name='bus_delivery')
    op.drop_index('ix_bus_message_time', table_name='bus_message')
