"""Webhook endpoints, events and the delivery log: storage, rules and presentation (SPEC 7.1)."""

import base64
import secrets
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit import errors
from roost.kit.crypto import Keyring
from roost.kit.ids import new_id
from roost.kit.network import address_refusal, literal_address
from roost.kit.pagination import Page, fetch_page
from roost.kit.urls import has_space_or_control, split_url
from roost.organizations.service import Caller, find_owned, mode_settings
from roost.webhooks import outbox
from roost.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

PREVIOUS_SECRET_VALID_MS = 24 * 3_600_000
MAX_ENDPOINTS_PER_MODE = 16
LOCAL_NAMES = ("localhost", "localhost.localdomain")


# -- secrets -----------------------------------------------------------------------------------


def new_secret() -> str:
    """`whsec_` + base64 of 24 random bytes, the form Standard Webhooks libraries take."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _secret_context(endpoint: WebhookEndpoint, which: str) -> str:
    return f"webhook_secret:{which}:{endpoint.organization_id}:{endpoint.id}"


def signing_secrets(keyring: Keyring, endpoint: WebhookEndpoint, now: int) -> list[str]:
    """The current secret, then the previous one while its 24 hours last."""
    found = [keyring.decrypt(endpoint.secret_encrypted, _secret_context(endpoint, "current"))]
    if endpoint.previous_secret_encrypted and (endpoint.previous_secret_expires_at or 0) > now:
        found.append(keyring.decrypt(endpoint.previous_secret_encrypted, _secret_context(endpoint, "previous")))
    return found


# -- URL rule ----------------------------------------------------------------------------------


MAX_URL_LENGTH = 2048


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """None when `url` may receive webhooks, else a predicate that follows the parameter's name.

    A host name is checked again at every delivery, on the addresses it resolves to then."""
    if not 1 <= len(url) <= MAX_URL_LENGTH:
        return f"must be 1 to {MAX_URL_LENGTH} characters"
    if has_space_or_control(url):
        return "must not contain spaces or control characters"
    parts = split_url(url)
    if parts is None:
        return "must be a valid URL such as https://example.com/webhooks"
    host = parts.hostname
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host or not url[len(scheme) + 1 :].startswith("//"):
        return "must be an absolute https:// URL such as https://example.com/webhooks"
    if parts.username or parts.password:
        return "must not contain a user name or password"
    if parts.fragment or url.endswith("#"):
        return "must not contain a fragment (#…)"
    address = literal_address(host)
    refusal = address_refusal(address) if address is not None else None
    if refusal and not allow_private:
        return f"must not point at {refusal} (the server allows that only with ROOST_WEBHOOK_ALLOW_PRIVATE=1)"
    if scheme == "http":
        local = refusal is not None or host.lower() in LOCAL_NAMES or host.lower().endswith(".localhost")
        if not (allow_private and local):
            return "must use https:// (plain http:// is allowed only to local addresses, with ROOST_WEBHOOK_ALLOW_PRIVATE=1)"
    return None


# -- endpoints -----------------------------------------------------------------------------------


async def create_endpoint(
    db: AsyncSession, keyring: Keyring, caller: Caller, *, url: str, events: list[str], description: str | None,
    enabled: bool, now: int,
) -> tuple[WebhookEndpoint, str]:
    # The mode's settings row, locked, makes concurrent creates count one after the other: the
    # limit holds across processes on PostgreSQL.
    await mode_settings(db, caller.organization_id, caller.livemode, for_update=True)
    count = await db.scalar(
        select(func.count()).where(
            WebhookEndpoint.organization_id == caller.organization_id, WebhookEndpoint.livemode == caller.livemode
        )
    )
    if count >= MAX_ENDPOINTS_PER_MODE:
        raise errors.invalid(
            "webhook_endpoint_limit_reached",
            f"An organization can have at most {MAX_ENDPOINTS_PER_MODE} webhook endpoints per mode; delete one first",
        )
    endpoint = WebhookEndpoint(
        id=new_id("whk"),
        organization_id=caller.organization_id,
        livemode=caller.livemode,
        url=url,
        events=events,
        description=description,
        enabled=enabled,
        disabled_reason=None if enabled else "api",
        disabled_at=None if enabled else now,
        created_at=now,
        updated_at=now,
    )
    secret = new_secret()
    endpoint.secret_encrypted = keyring.encrypt(secret, _secret_context(endpoint, "current"))
    db.add(endpoint)
    return endpoint, secret


async def get_endpoint(db: AsyncSession, caller: Caller, endpoint_id: str, *, for_update: bool = False, param: str = "id") -> WebhookEndpoint:
    return await find_owned(
        db, caller, WebhookEndpoint, endpoint_id, prefix="whk", noun="webhook endpoint", param=param, for_update=for_update
    )



async def update_endpoint(db: AsyncSession, endpoint: WebhookEndpoint, changes: dict[str, Any], now: int) -> None:
    for name in ("url", "events", "description"):
        if name in changes:
            setattr(endpoint, name, changes[name])
    if "enabled" in changes and changes["enabled"] != endpoint.enabled:
        endpoint.enabled = changes["enabled"]
        if endpoint.enabled:
            # Re-enabling: parked deliveries go out at once; failures start counting afresh.
            endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
            await db.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == outbox.PENDING)
                .values(next_attempt_at=now)
            )
            outbox.mark_for_wake(db)
        else:
            endpoint.disabled_reason, endpoint.disabled_at = "api", now
    endpoint.updated_at = now


async def delete_endpoint(db: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """The endpoint goes, with what it was still owed and its delivery log (events stay)."""
    await db.execute(delete(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id))
    await db.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    await db.delete(endpoint)


def rotate_secret(keyring: Keyring, endpoint: WebhookEndpoint, now: int) -> str:
    """A new current secret; the one it replaces keeps signing for 24 hours (an older one stops now)."""
    current = keyring.decrypt(endpoint.secret_encrypted, _secret_context(endpoint, "current"))
    endpoint.previous_secret_encrypted = keyring.encrypt(current, _secret_context(endpoint, "previous"))
    endpoint.previous_secret_expires_at = now + PREVIOUS_SECRET_VALID_MS
    secret = new_secret()
    endpoint.secret_encrypted = keyring.encrypt(secret, _secret_context(endpoint, "current"))
    endpoint.updated_at = now
    return secret


# -- events --------------------------------------------------------------------------------------


async def get_event(db: AsyncSession, caller: Caller, event_id: str) -> WebhookEvent:
    return await find_owned(db, caller, WebhookEvent, event_id, prefix="evt", noun="event")



async def resend(db: AsyncSession, caller: Caller, event: WebhookEvent, endpoint_id: str | None, now: int) -> list[dict[str, Any]]:
    """Queue the event again: to one endpoint, or to every enabled endpoint subscribed to its type.

    The new delivery carries the event's id as `webhook-id`, like every delivery of that event."""
    if endpoint_id is not None:
        endpoint = await get_endpoint(db, caller, endpoint_id, param="endpoint_id")
        _require_enabled(endpoint)
        targets = [endpoint.id]
    else:
        E = WebhookEndpoint
        rows = await db.execute(
            select(E.id, E.events)
            .where(E.organization_id == caller.organization_id, E.livemode == caller.livemode, E.enabled.is_(True))
            .order_by(E.created_at, E.id)
        )
        targets = [row.id for row in rows if outbox.subscribes(row.events, event.type)]
        if not targets:
            raise errors.conflict(
                "no_webhook_endpoints", f"No enabled webhook endpoint of this mode subscribes to {event.type}"
            )
    rows = [outbox.delivery_row(event.id, target, event.organization_id, event.livemode, now) for target in targets]
    await db.execute(insert(WebhookDelivery), rows)
    outbox.mark_for_wake(db)
    return rows


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise errors.conflict("webhook_endpoint_disabled", f"The webhook endpoint {endpoint.id} is disabled; enable it first")


async def send_test_event(db: AsyncSession, endpoint: WebhookEndpoint, now: int) -> tuple[str, dict[str, Any]]:
    """A `webhook_endpoint.test` event, delivered to this endpoint only (signed and retried like any
    other). Returns the event's id and its delivery row."""
    _require_enabled(endpoint)
    data = {"object": "webhook_endpoint", "id": endpoint.id, "url": endpoint.url, "livemode": endpoint.livemode, "test": True}
    event_id = outbox.emit(
        db, organization_id=endpoint.organization_id, livemode=endpoint.livemode, type=outbox.TEST_EVENT, data=data, at=now
    )
    await db.flush()  # the event row first (its fan-out reaches no endpoint: nobody subscribes to tests)
    row = outbox.delivery_row(event_id, endpoint.id, endpoint.organization_id, endpoint.livemode, now)
    await db.execute(insert(WebhookDelivery), [row])
    return event_id, row


# -- lists -----------------------------------------------------------------------------------------


async def list_endpoints(db: AsyncSession, caller: Caller, page: Page) -> tuple[list[WebhookEndpoint], bool]:
    E = WebhookEndpoint
    scope = [E.organization_id == caller.organization_id, E.livemode == caller.livemode]
    return await fetch_page(db, select(E).where(*scope), E, scope, page, what="webhook endpoints")


async def list_events(db: AsyncSession, caller: Caller, type: str | None, page: Page) -> tuple[list[WebhookEvent], bool]:
    V = WebhookEvent
    scope = [V.organization_id == caller.organization_id, V.livemode == caller.livemode]
    query = select(V).where(*scope)
    if type:
        query = query.where(V.type == type)
    return await fetch_page(db, query, V, scope, page, what="events")


async def list_attempts(
    db: AsyncSession, endpoint: WebhookEndpoint, event_id: str | None, page: Page
) -> tuple[list[WebhookAttempt], bool]:
    A = WebhookAttempt
    scope = [A.endpoint_id == endpoint.id]
    query = select(A).where(*scope)
    if event_id:
        query = query.where(A.event_id == event_id)
    return await fetch_page(db, query, A, scope, page, what="delivery attempts")
