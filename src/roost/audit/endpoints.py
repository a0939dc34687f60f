"""The audit log over HTTP: `GET /v1/organization/audit-log` (the caller's mode only)."""

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from roost.audit import service
from roost.kit import errors, pagination
from roost.openapi_support import errors_for
from roost.organizations.auth import require_admin_key
from roost.organizations.service import Caller
from roost.runtime import get_db

router = APIRouter(prefix="/v1/organization", tags=["Organization"])


@router.get(
    "/audit-log",
    summary="List audit log entries of this mode, newest first",
    description="Every read of a business token (`business_profile.access_token.read`) is recorded with the "
    "admin key, the profile, the request id and the client address. Filters: `action`, `resource_id`.",
    responses=errors_for(400, 401),
)
async def list_audit_log(
    request: Request,
    limit: str | None = Query(None, description="1 to 100, default 20"),
    starting_after: str | None = Query(None, description="An entry id: the page after it"),
    ending_before: str | None = Query(None, description="An entry id: the page before it"),
    action: str | None = Query(None, description=" | ".join(service.ACTIONS)),
    resource_id: str | None = Query(None, description="The object acted on, such as a wabp_ id"),
    caller: Caller = Depends(require_admin_key),
    db: AsyncSession = Depends(get_db),
) -> dict:
    parsed = pagination.read_list_query(request.query_params, {"action", "resource_id"})
    if action is not None and action not in service.ACTIONS:
        parsed.problem("action", "must be one of " + ", ".join(service.ACTIONS))
    if parsed.problems:
        raise errors.validation_error(parsed.problems)
    async with db.begin():
        rows, has_more = await service.list_entries(db, caller, parsed.page, action=action, resource_id=resource_id)
    return pagination.list_object([service.entry_object(row) for row in rows], has_more)
