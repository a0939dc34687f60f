"""The auth dependency: admin key -> Caller, and one request counted against its rate limit."""

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit import errors
from roost.kit.timeutil import now_ms
from roost.organizations import ratelimit
from roost.organizations.service import Caller, cached_caller, key_hash_of, lookup_key
from roost.runtime import Runtime, get_db, runtime_dependency


async def require_admin_key(
    request: Request, db: AsyncSession = Depends(get_db), runtime: Runtime = Depends(runtime_dependency)
) -> Caller:
    limit = runtime.settings.rate_limit_per_minute
    key_hash, secret = key_hash_of(request.headers.get("authorization"))
    caller = cached_caller(key_hash)
    # A key seen in the last second needs no database read; the rate limit is counted in its own
    # short transaction (one shared row per key: holding its lock for a whole request would
    # queue that key's requests behind each other on PostgreSQL).
    if caller is None or limit > 0:
        async with db.begin():
            if caller is None:
                caller = await lookup_key(db, key_hash, secret)
            if limit > 0:
                usage = await ratelimit.consume(db, caller.key_id, limit, now_ms())
                request.state.rate_limit = usage
    if limit > 0 and usage.exceeded:
        wait = max(1, usage.reset - now_ms() // 1000)
        raise errors.ApiError(
            429,
            "invalid_request_error",
            "rate_limited",
            f"Too many requests: this key may make {limit} requests per minute; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    return caller


def require_live_for(caller: Caller, livemode: bool) -> None:
    if livemode and not caller.livemode:
        raise errors.forbidden("live_mode_required", "Live-mode settings can only be read or changed with a live admin key")
