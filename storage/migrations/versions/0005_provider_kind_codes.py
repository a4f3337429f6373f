"""One list of provider kinds for the console and the workbook (decision 0016): welfare_org → welfare_agency

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:45:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Providers imported from a workbook before the two lists were one carry the workbook's old code.
    op.execute("UPDATE providers SET kind = 'welfare_agency' WHERE kind = 'welfare_org'")


def downgrade() -> None:
    pass  # the old code named the same kind; nothing to undo
