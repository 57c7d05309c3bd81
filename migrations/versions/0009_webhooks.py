"""webhooks: the URLs an admin registered to hear of orders' status changes, what each wants
to hear (statuses, styles; none: everything) and the secret its deliveries are signed with
(ADR 0028).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-14 12:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'webhooks_subscription', sa.Column('seq', sa.Integer(), nullable=False),
        _text('id', 40, nullable=False), _text('url', 2000, nullable=False),
        _text('secret', 100, nullable=False), _text('statuses', 200), _text('styles', 100),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq'), sa.UniqueConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('webhooks_subscription')
