"""The conversion funnel of hosted sessions (SPEC 3.5), computed from sessions and their events.

Every count is over the caller's sessions (organization and mode) created in the range:
- created           sessions created;
- opened            whose page was shown in a browser (`page.opened`; link scanners do not count);
- started           whose user clicked connect at least once (`started_at`);
- finished_on_meta  whose user finished Meta's flow: a FINISH message arrived or Meta's code did;
- completed         that are `completed` now (a recovered session claimed later counts);
- abandoned_at      sessions that did not complete (nor were recovered) by Meta's `current_step`
                    of their last CANCEL — the screen where users give up;
- errors            sessions by `error.code` (user_cancelled, session_expired, signup_error, …);
                    a pending session past its deadline counts as session_expired, as reads say.
"""

from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.organizations.service import Caller
from roost.sessions.models import SessionEvent, SignupSession
from roost.sessions.schemas import EmbeddedSignupFunnel
from roost.sessions.state import SessionStatus


def _has_event(type_: str, *conditions: Any) -> Any:
    return exists().where(SessionEvent.session_id == SignupSession.id, SessionEvent.type == type_, *conditions)


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def funnel(
    db: AsyncSession, caller: Caller, *, created_gte: int | None, created_lt: int | None, now: int
) -> dict[str, Any]:
    S = SignupSession
    scope = [S.organization_id == caller.organization_id, S.livemode == caller.livemode, S.source == "hosted"]
    if created_gte is not None:
        scope.append(S.created_at >= created_gte)
    if created_lt is not None:
        scope.append(S.created_at < created_lt)

    finished = or_(
        S.code_received_at.is_not(None),
        _has_event("meta.message", SessionEvent.data["kind"].as_string() == "finish"),
    )
    overdue = and_(S.status == SessionStatus.PENDING, S.deadline_at.is_not(None), S.deadline_at <= now)
    totals = (
        await db.execute(
            select(
                func.count().label("created"),
                _count(_has_event("page.opened")).label("opened"),
                _count(S.started_at.is_not(None)).label("started"),
                _count(finished).label("finished_on_meta"),
                _count(S.status == SessionStatus.COMPLETED).label("completed"),
                _count(overdue).label("overdue"),
            ).where(*scope)
        )
    ).one()

    abandoned_rows = await db.execute(
        select(S.last_step, func.count())
        .where(*scope, S.last_step.is_not(None), S.status.not_in((SessionStatus.COMPLETED, SessionStatus.RECOVERED)))
        .group_by(S.last_step)
    )
    error_code = S.error["code"].as_string()
    error_rows = await db.execute(
        select(error_code, func.count()).where(*scope, S.error.is_not(None), error_code.is_not(None)).group_by(error_code)
    )
    errors = {code: count for code, count in error_rows}
    if totals.overdue:
        errors["session_expired"] = errors.get("session_expired", 0) + int(totals.overdue)

    return EmbeddedSignupFunnel.render(
        livemode=caller.livemode,
        created=int(totals.created),
        opened=int(totals.opened),
        started=int(totals.started),
        finished_on_meta=int(totals.finished_on_meta),
        completed=int(totals.completed),
        abandoned_at=dict(sorted(((step, int(count)) for step, count in abandoned_rows), key=lambda item: -item[1])),
        errors=dict(sorted(errors.items(), key=lambda item: -item[1])),
    )
