"""operations: the trace context travels with every logged message (bus_message.traceparent);
idempotency keys of POST /api/orders (orders_idempotency_key); finished flows whose history
the retention job pruned (bus_archived_flow).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 06:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('bus_message') as batch:
        batch.add_column(sa.Column('traceparent', sqlmodel.sql.sqltypes.AutoString(length=55),
                                   nullable=True))
    op.create_table(
        'orders_idempotency_key',
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=False),
        sa.Column('response', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index('ix_orders_idempotency_key_expires', 'orders_idempotency_key',
                    ['expires_at'], unique=False)
    op.create_table(
        'bus_archived_flow',
        sa.Column('flowid', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('messages', sa.Integer(), nullable=False),
        sa.Column('first_message_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('flowid'),
    )


def downgrade() -> None:
    op.drop_table('bus_archived_flow')
    op.drop_index('ix_orders_idempotency_key_expires', table_name='orders_idempotency_key')
    op.drop_table('orders_idempotency_key')
    with op.batch_alter_table('bus_message') as batch:
        batch.drop_column('traceparent')
