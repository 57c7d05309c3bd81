"""simulators: the sandbox payment provider's and carrier's own books (sim_provider_*,
sim_carrier_*): idempotency keys, attempt counts and answers, kept across our restarts as a
real provider keeps them (ADR 0020).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key() -> sa.Column:
    return sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200),
                     nullable=False)


def _text(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'sim_provider_charge', _key(), _text('status', 30, nullable=False),
        _text('charge_id', 60), _text('reason', 60),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.Column('voided', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('idempotency_key'),
    )
    op.create_table(
        'sim_provider_attempt', _key(), sa.Column('attempts', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('idempotency_key'),
    )
    op.create_table(
        'sim_provider_refund', _key(), _text('refund_id', 60, nullable=False),
        sa.Column('amount_cents', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('idempotency_key'),
    )
    op.create_table(
        'sim_provider_release', _text('charge_id', 60, nullable=False),
        sa.PrimaryKeyConstraint('charge_id'),
    )
    op.create_table(
        'sim_carrier_consignment', _key(), sa.Column('accepted', sa.Boolean(), nullable=False),
        _text('tracking_id', 60), _text('reason', 60),
        sa.PrimaryKeyConstraint('idempotency_key'),
    )


def downgrade() -> None:
    for table in ('sim_carrier_consignment', 'sim_provider_release', 'sim_provider_refund',
                  'sim_provider_attempt', 'sim_provider_charge'):
        op.drop_table(table)
