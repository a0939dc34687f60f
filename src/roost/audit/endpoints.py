"""The audit log over HTTP: `GET /v1/organization/audit-log` (the caller's mode only)."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from roost.audit import service
from roost.audit.schemas import AuditLogEntryList, AuditLogEntryObject
from roost.kit import pagination
from roost.kit.query import QueryParams, one_of, text
from roost.openapi_support import errors_for
from roost.organizations.auth import require_admin_key
from roost.organizations.service import Caller
from roost.runtime import get_db

router = APIRouter(prefix="/v1/organization", tags=["Organization"])
LIST_QUERY = QueryParams(
    one_of("action", service.ACTIONS, "Entries of this action"),
    text("resource_id", "The object acted on, such as a wabp_ id"),
    page="An entry id",
)


@router.get(
    "/audit-log",
    summary="List audit log entries of this mode, newest first",
    description="Every read of a business token (`business_profile.access_token.read`) is recorded with the "
    "admin key, the profile, the request id and the client address; every action an operator takes in the console "
    "with the console user (`console_user_id`). Filters: `action`, `resource_id`.",
    response_model=AuditLogEntryList,
    responses=errors_for(400, 401),
    openapi_extra=LIST_QUERY.openapi(),
)
async def list_audit_log(
    request: Request, caller: Caller = Depends(require_admin_key), db: AsyncSession = Depends(get_db)
) -> JSONResponse:
    parsed = LIST_QUERY.read(request.query_params)
    async with db.begin():
        rows, has_more = await service.list_entries(db, caller, parsed.page, **parsed.filters)
    return JSONResponse(pagination.list_object([AuditLogEntryObject.render(row) for row in rows], has_more))
