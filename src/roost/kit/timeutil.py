"""Time in Roost: integer milliseconds since the Unix epoch, UTC, everywhere inside;
ISO 8601 with milliseconds and `Z` on the wire."""

import re
import time
from datetime import datetime, timezone


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    # gmtime + %-formatting: a third of the cost of datetime + strftime, and a list page has
    # six timestamps per session.
    seconds, millis = divmod(ms, 1000)
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, millis)


def parse_time(text: str) -> int:
    """Unix seconds (`1705321800`, `1705321800.5`) or ISO 8601 (`2024-01-15T12:30:00.000Z`) -> ms.

    An ISO time without an offset is taken as UTC. Raises ValueError.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty time")
    if re.fullmatch(r"-?[0-9]{1,12}(\.[0-9]{1,6})?", text):
        return int(round(float(text) * 1000))
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)
