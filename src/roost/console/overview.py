"""The overview page's figures: the conversion funnel of sessions.funnel for the last 7 and 30
days, its rates, the reasons sessions did not complete, and the chart's geometry."""

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from roost.kit.timeutil import now_ms
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
# Counting a month of sessions reads every one of them (seconds at a million): the figures are
# kept, and once older than FRESH_SECONDS the page still shows them while one count runs in the
# background to replace them. Only an organization's first look after a start waits for a count.
FRESH_SECONDS = 30.0
MAX_KEPT = 1000  # organizations and modes whose figures are kept (all are dropped past it)
_figures: dict[tuple[str, bool], tuple[float, int, list[dict[str, Any]]]] = {}  # (monotonic, counted at ms, periods)
_refreshing: set[tuple[str, bool]] = set()
_tasks: set[asyncio.Task] = set()

# The chart: one horizontal bar per stage.
BAR_HEIGHT, GAP, LABEL_WIDTH, CHART_WIDTH = 24, 10, 130, 520


async def funnels(sessions: async_sessionmaker, caller: Caller, now: int) -> tuple[list[dict[str, Any]], int]:
    """The figures of each period and when they were counted (ms)."""
    key = (caller.organization_id, caller.livemode)
    kept = _figures.get(key)
    if kept is None:
        return await _count(sessions, caller, now), now
    counted, counted_at, periods = kept
    if time.monotonic() - counted > FRESH_SECONDS and key not in _refreshing:
        _refreshing.add(key)
        task = asyncio.create_task(_refresh(sessions, caller, key))
        _tasks.add(task)  # a reference, so the task is not collected before it ends
        task.add_done_callback(_tasks.discard)
    return periods, counted_at


async def _refresh(sessions: async_sessionmaker, caller: Caller, key: tuple[str, bool]) -> None:
    try:
        await _count(sessions, caller, now_ms())
    finally:
        _refreshing.discard(key)


async def _count(sessions: async_sessionmaker, caller: Caller, now: int) -> list[dict[str, Any]]:
    periods = []
    async with sessions() as db, db.begin():
        for days in PERIODS:
            counts = await funnel(db, caller, created_gte=now - days * DAY_MS, created_lt=None, now=now)
            periods.append(_period(days, counts))
    if len(_figures) >= MAX_KEPT:
        _figures.clear()
    _figures[(caller.organization_id, caller.livemode)] = (time.monotonic(), now, periods)
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
