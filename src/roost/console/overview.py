"""The overview page's figures: the conversion funnel of sessions.funnel for the last 7 and 30
days, its rates, the reasons sessions did not complete, and the chart's geometry."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.ttlcache import TtlCache
from roost.organizations.service import Caller
from roost.sessions.funnel import funnel

PERIODS = (7, 30)
STAGES = (
    ("created", "Created"),
    ("opened", "Opened"),
    ("started", "Started"),
    ("finished_on_meta", "Finished in Meta"),
    ("completed", "Completed"),
)
DAY_MS = 86_400_000
# Counting a month of sessions reads every one of them: the figures are kept for a little while,
# so that an operator who comes back to the page (or several who look at once) cost one count.
CACHE_SECONDS = 30.0
_cache: TtlCache[tuple[str, bool], list[dict[str, Any]]] = TtlCache(CACHE_SECONDS, max_entries=1000)

# The chart: one horizontal bar per stage.
BAR_HEIGHT, GAP, LABEL_WIDTH, CHART_WIDTH = 24, 10, 130, 520


async def funnels(db: AsyncSession, caller: Caller, now: int) -> list[dict[str, Any]]:
    key = (caller.organization_id, caller.livemode)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    periods = []
    for days in PERIODS:
        counts = await funnel(db, caller, created_gte=now - days * DAY_MS, created_lt=None, now=now)
        periods.append(_period(days, counts))
    _cache.put(key, periods)
    return periods


def _period(days: int, counts: dict[str, Any]) -> dict[str, Any]:
    created = counts["created"]
    bar_room = CHART_WIDTH - LABEL_WIDTH - 60
    stages = []
    previous = created
    for index, (name, label) in enumerate(STAGES):
        value = counts[name]
        stages.append(
            {
                "name": name,
                "label": label,
                "count": value,
                "of_created": _rate(value, created),
                "of_previous": _rate(value, previous),
                "y": index * (BAR_HEIGHT + GAP),
                "width": max(1, round(bar_room * value / created)) if created else 1,
            }
        )
        previous = value
    reasons = [{"kind": "Gave up at Meta's step", "what": step, "count": n} for step, n in counts["abandoned_at"].items()]
    reasons += [{"kind": "Ended with error", "what": code, "count": n} for code, n in counts["errors"].items()]
    reasons.sort(key=lambda reason: -reason["count"])
    return {
        "days": days,
        "created": created,
        "stages": stages,
        "reasons": reasons[:8],
        "height": len(STAGES) * (BAR_HEIGHT + GAP),
        "width": CHART_WIDTH,
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
    }


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "—"
