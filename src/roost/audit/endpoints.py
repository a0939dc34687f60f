"""The audit log over HTTP: `GET /v1/organization/audit-log` (the caller's mode only)."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from roost.audit import service
from roost.audit.schemas import AuditLogEntryList, AuditLogEntryObject
from roost.kit import errors, pagination
from roost.openapi_support import errors_for, one_of, page_parameters, query_parameters, text
from roost.organizations.auth import require_admin_key
from roost.organizations.service import Caller
from roost.runtime import get_db

router = APIRouter(prefix="/v1/organization", tags=["Organization"])


@router.get(
    "/audit-log",
    summary="List audit log entries of this mode, newest first",
    description="Every read of a business token (`business_profile.access_token.read`) is recorded with the "
    "admin key, the profile, the request id and the client address. Filters: `action`, `resource_id`.",
    response_model=AuditLogEntryList,
    responses=errors_for(400, 401),
    openapi_extra=query_parameters(
        **page_parameters("An entry id"),
        action=one_of(service.ACTIONS, "Entries of this action"),
        resource_id=text("The object acted on, such as a wabp_ id"),
    ),
)
async def list_audit_log(
    request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    parsed = pagination.read_list_query(request.query_params, {"action", "resource_id"})
    action, resource_id = request.query_params.get("action"), request.query_params.get("resource_id")
    if action is not None and action not in service.ACTIONS:
        parsed.problem("action", "must be one of " + ", ".join(service.ACTIONS))
    if parsed.problems:
        raise errors.validation_error(parsed.problems)
    async with db.begin():
        rows, has_more = await service.list_entries(db, caller, parsed.page, action=action, resource_id=resource_id)
    return JSONResponse(pagination.list_object([AuditLogEntryObject.render(row) for row in rows], has_more))
