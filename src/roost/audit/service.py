"""Recording and listing audit log entries (per organization and mode, like every object)."""


from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.audit.models import AuditLogEntry
from roost.kit import errors, pagination
from roost.kit.ids import has_prefix, new_id
from roost.organizations.service import Caller

TOKEN_READ = "business_profile.access_token.read"
# What an operator does in the console (recorded with the console user as the actor).
SESSION_CANCEL = "embedded_signup_session.cancel"
SESSION_NEW_LINK = "embedded_signup_session.new_link"
SESSION_SIMULATE = "embedded_signup_session.simulate"
PROFILE_DISCONNECT = "business_profile.disconnect"
PROFILE_REFRESH = "business_profile.refresh"
PHONE_REGISTER = "phone_number.register"
EVENT_RESEND = "event.resend"
ENDPOINT_ROTATE_SECRET = "webhook_endpoint.rotate_secret"
ENDPOINT_TEST = "webhook_endpoint.test"
KEY_CREATE = "admin_key.create"
KEY_REVOKE = "admin_key.revoke"
SETTINGS_UPDATE = "organization_settings.update"
ACTIONS = (
    TOKEN_READ, SESSION_CANCEL, SESSION_NEW_LINK, SESSION_SIMULATE, PROFILE_DISCONNECT, PROFILE_REFRESH, PHONE_REGISTER, EVENT_RESEND,
    ENDPOINT_ROTATE_SECRET, ENDPOINT_TEST, KEY_CREATE, KEY_REVOKE, SETTINGS_UPDATE,
)


def record(
    db: AsyncSession,
    caller: Caller,
    *,
    action: str,
    resource_type: str,
    resource_id: str,
    request_id: str | None,
    ip_address: str | None,
    at: int,
    console_user_id: str | None = None,
) -> AuditLogEntry:
    """Adds the entry to the caller's transaction: it exists exactly when the action did.
    The actor is the caller's admin key, or the console user `console_user_id` when given."""
    entry = AuditLogEntry(
        id=new_id("aud"),
        organization_id=caller.organization_id,
        livemode=caller.livemode,
        action=action,
        admin_key_id=None if console_user_id else caller.key_id,
        console_user_id=console_user_id,
        resource_type=resource_type,
        resource_id=resource_id,
        request_id=request_id,
        ip_address=ip_address,
        created_at=at,
    )
    db.add(entry)
    return entry


def origin(request: Request) -> dict[str, Any]:
    """The `request_id` and `ip_address` of an entry, from the request behind the action."""
    return {
        "request_id": request.scope.get("state", {}).get("request_id"),
        "ip_address": request.client.host if request.client else None,
    }


async def list_entries(
    db: AsyncSession, caller: Caller, page: pagination.Page, *, action: str | None, resource_id: str | None
) -> tuple[list[AuditLogEntry], bool]:
    A = AuditLogEntry
    mine = (A.organization_id == caller.organization_id, A.livemode == caller.livemode)
    query = select(A).where(*mine)
    if action:
        query = query.where(A.action == action)
    if resource_id:
        query = query.where(A.resource_id == resource_id)
    if page.cursor_id is not None:
        row = None
        if has_prefix(page.cursor_id, "aud"):
            row = (await db.execute(select(A.created_at, A.id).where(A.id == page.cursor_id, *mine))).first()
        if row is None:
            param = page.cursor_param
            raise errors.invalid("parameter_invalid", f"{param} must be the id of one of your audit log entries", param=param)
        query = query.where(pagination.after_cursor(A.created_at, A.id, (row.created_at, row.id), page.newest_first))
    rows = list(await db.scalars(query.order_by(*pagination.order_by(A.created_at, A.id, page.newest_first)).limit(page.limit + 1)))
    return pagination.trim(rows, page)
