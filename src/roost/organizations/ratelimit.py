"""Per-key rate limit: a fixed one-minute window counted in the database, so every
`roost serve` process on one database draws from the same allowance."""

from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from roost.organizations.models import RateLimitWindow

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    reset: int  # Unix seconds when the window ends
    exceeded: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


async def consume(db: AsyncSession, key_id: str, limit: int, now_ms: int) -> RateLimit:
    """Count one request for `key_id` in the current window (atomic upsert) and say whether it fits."""
    window_start = (now_ms // 1000) // WINDOW_SECONDS * WINDOW_SECONDS
    dialect = postgresql if db.bind.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(RateLimitWindow)
        .values(key_id=key_id, window_start=window_start, count=1)
        .on_conflict_do_update(
            index_elements=["key_id", "window_start"],
            set_={"count": RateLimitWindow.count + 1},
        )
        .returning(RateLimitWindow.count)
    )
    count = (await db.execute(statement)).scalar_one()
    return RateLimit(
        limit=limit,
        remaining=max(0, limit - count),
        reset=window_start + WINDOW_SECONDS,
        exceeded=count > limit,
    )


async def purge_old_windows(db: AsyncSession, now_ms: int) -> int:
    current = (now_ms // 1000) // WINDOW_SECONDS * WINDOW_SECONDS
    result = await db.execute(delete(RateLimitWindow).where(RateLimitWindow.window_start < current))
    return result.rowcount or 0
