"""delivery lanes: a module's deliveries of one flow wait for its earlier ones in the same
lane only (bus_delivery.lane; '' for every message but those whose class names a lane field,
such as webhooks' DeliverWebhook, one lane per subscription; ADR 0028).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('bus_delivery') as batch:
        batch.add_column(sa.Column('lane', sqlmodel.sql.sqltypes.AutoString(length=60),
                                   nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('bus_delivery') as batch:
        batch.drop_column('lane')
