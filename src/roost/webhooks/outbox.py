"""The transactional outbox: an event is written in the same transaction as the change behind it.

INTERFACE FIXED FOR ISSUE 5 WORK IN PROGRESS — the outbound-webhooks work replaces the body.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


def emit(db: AsyncSession, *, organization_id: str, livemode: bool, type: str, data: dict[str, Any], at: int) -> None:
    """Record event `type` (SPEC 7.1) with `data` (the object as the API shows it) in `db`'s
    transaction, and queue its delivery to every matching endpoint of that organization and mode."""
    return None
