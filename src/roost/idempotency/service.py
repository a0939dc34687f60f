"""`Idempotency-Key` (SPEC 3.1): a retried create returns the first response, never a second object.

The key is claimed in its own short transaction (so a concurrent repeat sees it "in use"),
and the response is stored encrypted in the same transaction as the work it describes, so
there is never a committed object whose key has no stored response.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Header, Request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from roost.idempotency.models import IdempotencyRecord
from roost.kit import errors
from roost.kit.crypto import Keyring, sha256_hex
from roost.kit.timeutil import now_ms
from roost.kit.web import read_json_object

RETENTION_MS = 24 * 3600 * 1000
# A claim whose request never finished (the process died) is released after this long.
ABANDONED_MS = 60 * 1000


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    replayed: bool


# The header as the create endpoints take it (documented by openapi_support.IDEMPOTENCY_KEY_HEADER).
IdempotencyKeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False)]


async def read_create_body(request: Request, idempotency_key: str | None) -> dict[str, Any]:
    """A create's JSON body, then its Idempotency-Key checked (a bad body is reported first)."""
    body = await read_json_object(request)
    if idempotency_key is not None:
        check_key(idempotency_key)
    return body


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Caller(Protocol):
    """Whose keys these are (organizations.service.Caller): keys are scoped per organization and mode."""

    @property
    def organization_id(self) -> str: ...

    @property
    def livemode(self) -> bool: ...


def _context(caller: Caller, key: str) -> str:
    return f"idempotency:{caller.organization_id}:{int(caller.livemode)}:{key}"


def check_key(key: str) -> str:
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise errors.invalid(
            "parameter_invalid", "The Idempotency-Key header must be 1 to 255 printable characters", param="Idempotency-Key"
        )
    return key


async def run_idempotent(
    db: AsyncSession,
    keyring: Keyring,
    caller: Caller,
    key: str,
    request_body: dict[str, Any],
    work: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
) -> StoredResponse:
    """Run `work` (which must not commit: it runs inside our transaction) at most once per key."""
    request_hash = sha256_hex(canonical(request_body))
    identity = (caller.organization_id, caller.livemode, key)
    existing = await _claim(db, identity, request_hash)
    if existing is not None:
        if existing.request_hash != request_hash:
            raise errors.conflict(
                "idempotency_key_reused",
                "This Idempotency-Key was already used with a different request body; use a new key for a new request",
            )
        if existing.response_status is None:
            raise errors.conflict(
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still being processed; retry shortly",
            )
        body = json.loads(keyring.decrypt(existing.response_body_encrypted, _context(caller, key)))
        return StoredResponse(existing.response_status, body, replayed=True)

    try:
        async with db.begin():
            status, body = await work()
            record = await db.get(IdempotencyRecord, identity, with_for_update=True)
            record.response_status = status
            # Stored as produced (key order kept), so a replay reads like the original.
            stored = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
            record.response_body_encrypted = keyring.encrypt(stored, _context(caller, key))
    except BaseException:
        # Only a finished success is remembered: a failed attempt releases the key for a retry.
        async with db.begin():
            await db.execute(delete(IdempotencyRecord).where(*_matches(identity), IdempotencyRecord.response_status.is_(None)))
        raise
    return StoredResponse(status, body, replayed=False)


async def create_once(
    db: AsyncSession,
    keyring: Keyring,
    caller: Caller,
    idempotency_key: str | None,
    request_body: dict[str, Any],
    work: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
    *,
    scope: str | None,
) -> StoredResponse:
    """A create endpoint's `work` in one transaction: once per Idempotency-Key when one is sent.

    `scope` keeps the keys of different endpoints apart (the same key on two endpoints is two
    requests), hashed so that any 255-character key still fits. Session creation has none: its
    keys were stored unscoped from the start."""
    if idempotency_key is None:
        async with db.begin():
            status, body = await work()
        return StoredResponse(status, body, replayed=False)
    key = idempotency_key if scope is None else f"{scope}:{sha256_hex(idempotency_key)}"
    return await run_idempotent(db, keyring, caller, key, request_body, work)


def replay_headers(stored: StoredResponse) -> dict[str, str]:
    return {"Idempotent-Replayed": "true"} if stored.replayed else {}


def _matches(identity: tuple[str, bool, str]) -> list:
    organization_id, livemode, key = identity
    return [
        IdempotencyRecord.organization_id == organization_id,
        IdempotencyRecord.livemode == livemode,
        IdempotencyRecord.key == key,
    ]


async def _claim(db: AsyncSession, identity: tuple[str, bool, str], request_hash: str) -> IdempotencyRecord | None:
    """Insert our claim and return None, or return the record that already holds the key."""
    organization_id, livemode, key = identity
    for _ in range(3):
        now = now_ms()
        try:
            async with db.begin():
                record = await db.scalar(select(IdempotencyRecord).where(*_matches(identity)).with_for_update())
                if record is not None and (
                    record.created_at < now - RETENTION_MS
                    or (record.response_status is None and record.created_at < now - ABANDONED_MS)
                ):
                    await db.delete(record)
                    await db.flush()
                    record = None
                if record is not None:
                    return record
                db.add(
                    IdempotencyRecord(
                        organization_id=organization_id,
                        livemode=livemode,
                        key=key,
                        request_hash=request_hash,
                        created_at=now,
                    )
                )
            return None
        except IntegrityError:
            continue  # a concurrent request claimed it first: read what it wrote
    raise errors.conflict("idempotency_key_in_use", "A request with this Idempotency-Key is still being processed; retry shortly")


async def purge_expired(db: AsyncSession, now: int) -> int:
    result = await db.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - RETENTION_MS))
    return result.rowcount or 0
