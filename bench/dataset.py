"""The list benchmark's data: N sessions of one organization, written straight into the database.

The rows look like what the API writes (same columns, same metadata index rows with the
service's own `metadata_digest(metadata_text(value))`), without going through HTTP, so a
million rows take about a minute instead of an hour. The generator is seeded, so SQLite and
PostgreSQL get the same data shape.

Shape (documented in docs/performance.md):
- created_at spread uniformly over the 180 days before seeding, inserted oldest first;
- status: the sessions of the last hour are pending; older ones are completed 52 %,
  expired 38 %, cancelled 4 %, failed 4 %, recovered 2 %;
- source: hosted 92 %, platform 8 %;
- metadata: every session has `externalUserId` (user_000000 … one of N/10 values, so about
  ten sessions per user); half of them also have the tenant-wide key `plan`
  (free 70 %, pro 25 %, enterprise 5 %);
- redirect_uri, state and prefill are the seed body's (tests/support/__init__.py SEED_BODY).
"""

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from roost.sessions.schemas import SessionCreateParams
from roost.sessions.service import metadata_digest, metadata_text
from roost.sessions.state import EXPIRED_ERROR

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
TTL_MS = 900_000
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KSUID_EPOCH = 1_400_000_000

SESSION_COLUMNS = [
    "id", "organization_id", "livemode", "source", "status", "token_hash", "created_at", "expires_at",
    "deadline_at", "started_at", "code_received_at", "completed_at", "cancelled_at", "redirect_uri", "state",
    "metadata", "prefill", "locale", "coexistence", "waba_id", "business_id", "phone_number_id",
    "business_profile_id", "last_step", "error", "provisioning",
]
METADATA_COLUMNS = ["session_id", "key", "value_digest", "organization_id", "livemode", "created_at", "status"]

PLAN_VALUES = (("free", 0.70), ("pro", 0.25), ("enterprise", 0.05))
OLD_STATUSES = (("completed", 0.52), ("expired", 0.38), ("cancelled", 0.04), ("failed", 0.04), ("recovered", 0.02))
CANCELLED_ERROR = {"code": "session_cancelled", "message": "The session was cancelled by the platform.", "meta_code": None}
FAILED_ERROR = {"code": "meta_error", "message": "Meta refused the request.", "meta_code": 100}


@dataclass(frozen=True)
class Shape:
    sessions: int
    seed: int = 20_240_601

    @property
    def users(self) -> int:
        return max(10, self.sessions // 10)


def user_value(index: int) -> str:
    return f"user_{index:06d}"


def digest(value: Any) -> str:
    """The value_digest the service stores for a metadata value."""
    text = metadata_text(value)
    assert text is not None
    return metadata_digest(text)


_TRIPLES = [a + b + c for a in _ALPHABET for b in _ALPHABET for c in _ALPHABET]  # base62 digits, 3 at a time


def _ksuid(seconds: int, rng: random.Random) -> str:
    """roost.kit.ids.ksuid's format (4 bytes of seconds + 16 random bytes, 27 base62 chars), seeded."""
    number = ((seconds - _KSUID_EPOCH) << 128) | rng.getrandbits(128)
    groups = []
    for _ in range(9):
        number, rest = divmod(number, 238_328)
        groups.append(_TRIPLES[rest])
    return "".join(reversed(groups))


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    roll = rng.random()
    for value, weight in table:
        roll -= weight
        if roll < 0:
            return value
    return table[-1][0]


def generate(
    shape: Shape, organization_id: str, seed_body: dict[str, Any], now: int, batch: int = 50_000
) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Batches of (session rows, metadata rows) in SESSION_COLUMNS / METADATA_COLUMNS order,
    oldest first. JSON columns are JSON text; booleans are Python bools."""
    rng = random.Random(shape.seed + shape.sessions)
    start = now - 180 * DAY_MS
    created = sorted(rng.randrange(start, now - 60_000) for _ in range(shape.sessions))
    prefill = json.dumps(SessionCreateParams.model_validate(seed_body).prefill.stored())
    redirect_uri, state = seed_body["redirect_uri"], seed_body["state"]
    user_digests = [digest(user_value(index)) for index in range(shape.users)]
    plan_digests = {value: digest(value) for value, _ in PLAN_VALUES}
    errors = {
        "expired": json.dumps(EXPIRED_ERROR), "cancelled": json.dumps(CANCELLED_ERROR), "failed": json.dumps(FAILED_ERROR),
    }

    sessions: list[tuple] = []
    metadata_rows: list[tuple] = []
    for created_at in created:
        session_id = "wss_" + _ksuid(created_at // 1000, rng)
        user = rng.randrange(shape.users)
        metadata: dict[str, Any] = {"externalUserId": user_value(user)}
        indexed = [(session_id, "externalUserId", user_digests[user], organization_id, False, created_at)]
        if rng.random() < 0.5:
            plan = _pick(rng, PLAN_VALUES)
            metadata["plan"] = plan
            indexed.append((session_id, "plan", plan_digests[plan], organization_id, False, created_at))

        status = "pending" if created_at >= now - HOUR_MS else _pick(rng, OLD_STATUSES)
        metadata_rows.extend(row + (status,) for row in indexed)  # the copy of the status (migration 0010)
        started = code = completed = cancelled = deadline = None
        waba = business = phone = None
        error = None
        if status == "pending":
            deadline = created_at + TTL_MS  # moved into the future at each run (see refresh_pending)
        elif status in ("completed", "recovered"):
            started = created_at + rng.randrange(20_000, 600_000)
            code = started + rng.randrange(30_000, 300_000)
            if status == "completed":
                completed = code + rng.randrange(2_000, 60_000)
                waba, business, phone = (str(rng.randrange(10**14, 10**15)) for _ in range(3))
        elif status == "expired":
            started = created_at + rng.randrange(20_000, 600_000) if rng.random() < 0.3 else None
            error = errors["expired"]
        elif status == "cancelled":
            cancelled = created_at + rng.randrange(10_000, TTL_MS)
            error = errors["cancelled"]
        else:
            started = created_at + rng.randrange(20_000, 600_000)
            error = errors["failed"]

        sessions.append((
            session_id, organization_id, False, "platform" if rng.random() < 0.08 else "hosted", status,
            rng.randbytes(32).hex(), created_at, created_at + TTL_MS, deadline, started, code, completed, cancelled,
            redirect_uri, state, json.dumps(metadata), prefill, None, False, waba, business, phone,
            None, None, error, "[]",
        ))
        if len(sessions) >= batch:
            yield sessions, metadata_rows
            sessions, metadata_rows = [], []
    if sessions:
        yield sessions, metadata_rows
