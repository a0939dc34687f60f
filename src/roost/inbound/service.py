"""Meta's webhooks to Roost (SPEC 7.2): which app a callback URL names, the handshake, the
signature, the changes Roost acts on, and the relay of every payload to a forward URL.

A Meta app has one callback URL for every WhatsApp webhook of every customer, messages
included. Roost keeps only what it acts on (`account_update`, `account_review_update`,
`phone_number_quality_update`, `phone_number_name_update`, a few fields each; a coexistence
WABA's `history` and `smb_app_state_sync`) and passes every payload on, byte for byte with
Meta's signature, to the app's forward URL; a coexistence WABA's override-able entries also go
to the organization's messages_callback_url (docs/coexistence.md). The relay holds a payload
only until it is delivered (or given up on).
"""

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from sqlalchemy import delete, exists, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.kit.crypto import Keyring, hub_signature
from roost.kit.ids import new_id
from roost.kit.simulated_meta import simulated_app, simulated_app_id
from roost.kit.timeutil import now_ms
from roost.kit.validation import is_ascii_digits
from roost.meta.config import resolve_meta_app
from roost.meta.events import (
    ACCOUNT_UPDATE, APPLIED_FIELDS, HEALTH_FIELDS, HISTORY, PARTNER_ADDED, PROOF_EVENTS, SMB_APP_STATE_SYNC, overridable,
)
from roost.meta.models import MetaSimulatedApp, MetaWebhookChange, MetaWebhookRelay
from roost.organizations.models import ModeSettings, Organization
from roost.profiles import coexistence, health
from roost.profiles import service as profiles
from roost.profiles.models import BusinessProfile, PhoneNumber
from roost.kit.network import AddressNotAllowed

log = structlog.get_logger("roost.meta.inbound")

# Meta batches up to 1000 updates in one POST, so the receiver accepts more than the API's 64 KB.
MAX_BODY_BYTES = 4 * 1024 * 1024

SYNC_FIELDS = frozenset({HISTORY, SMB_APP_STATE_SYNC})

# Waits between relay attempts after the first (about three days in all, like outbound webhooks).
RELAY_BACKOFF_MS = (5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000, 36_000_000, 36_000_000, 36_000_000, 36_000_000)
RELAY_ATTEMPT_MS = 60_000  # an attempt in flight holds the relay this long
RELAY_KEEP_MS = 7 * 24 * 3_600_000  # finished relay rows (without their bodies) are kept a week


@dataclass(frozen=True)
class InboundApp:
    """A Meta app whose webhooks Roost receives, with what is needed to check and relay them.

    Several organizations can share one live app (the server-wide one, or one set as an
    override by each), so secrets, verify tokens and forward URLs are sets."""

    app_id: str
    livemode: bool
    secrets: tuple[str, ...]
    verify_tokens: tuple[str, ...]
    forward_urls: tuple[str, ...]
    # Test mode: the one organization whose simulated app this is.
    test_owner: str | None = None
    server_app_id: str | None = field(default=None, compare=False)
    # Live: the secret of each organization's own app of this id, and of the server-wide app
    # (what a forwarded entry is signed with: the secret its receiver knows).
    organization_secrets: dict[str, str] = field(default_factory=dict, compare=False)
    server_secret: str | None = field(default=None, compare=False)

    def secret_for(self, organization_id: str) -> str | None:
        if not self.livemode:
            return self.secrets[0]
        return self.organization_secrets.get(organization_id, self.server_secret)


# -- which app ------------------------------------------------------------------------------


async def find_app(db: AsyncSession, settings: Settings, keyring: Keyring, app_id: str) -> InboundApp | None:
    """The app `app_id` names: an organization's simulated app, an organization's live
    override, or the server-wide app. None when Roost knows no such app."""
    if not is_ascii_digits(app_id) or len(app_id) > 32:
        return None
    live = await _live_app(db, settings, keyring, app_id)
    if live is not None:
        return live
    if settings.simulator:
        owner = await simulated_owner(db, keyring, app_id)
        if owner is not None:
            app = simulated_app(keyring, app_id)
            mode = await db.get(ModeSettings, (owner, False))
            return InboundApp(
                app_id=app_id,
                livemode=False,
                secrets=(app.app_secret,),
                verify_tokens=(app.verify_token,),
                forward_urls=(mode.meta_forward_url,) if mode is not None and mode.meta_forward_url else (),
                test_owner=owner,
            )
    return None


async def _live_app(db: AsyncSession, settings: Settings, keyring: Keyring, app_id: str) -> InboundApp | None:
    secrets: list[str] = []
    verify_tokens: list[str] = []
    forward_urls: list[str] = []

    def add(values: list[str], value: str | None) -> None:
        if value and value not in values:
            values.append(value)

    organization_secrets: dict[str, str] = {}
    overrides = await db.scalars(select(ModeSettings).where(ModeSettings.livemode.is_(True), ModeSettings.meta_app_id == app_id))
    for mode in overrides:
        app = resolve_meta_app(settings, keyring, "", mode)
        if app is None:
            continue
        add(secrets, app.app_secret)
        organization_secrets[mode.organization_id] = app.app_secret
        add(verify_tokens, app.verify_token)
        # An organization's forward URL only applies to its own app: the server-wide app carries
        # every tenant's messages and relays them only to the operator's ROOST_META_FORWARD_URL.
        add(forward_urls, mode.meta_forward_url)
    if settings.meta_app_id == app_id and settings.meta_app_secret is not None:
        add(secrets, settings.meta_app_secret.get_secret_value())
        add(verify_tokens, settings.meta_verify_token.get_secret_value() if settings.meta_verify_token else None)
        add(forward_urls, settings.meta_forward_url)
    if not secrets:
        return None
    return InboundApp(
        app_id=app_id,
        livemode=True,
        secrets=tuple(secrets),
        verify_tokens=tuple(verify_tokens),
        forward_urls=tuple(forward_urls),
        server_app_id=settings.meta_app_id,
        organization_secrets=organization_secrets,
        server_secret=settings.meta_app_secret.get_secret_value()
        if settings.meta_app_id == app_id and settings.meta_app_secret is not None else None,
    )


async def simulated_owner(db: AsyncSession, keyring: Keyring, app_id: str) -> str | None:
    """The organization whose simulated app is `app_id`. The id is derived one way from the
    organization id, so organizations not yet in the lookup table are added on a miss."""
    owner = await db.scalar(select(MetaSimulatedApp.organization_id).where(MetaSimulatedApp.app_id == app_id))
    if owner is not None:
        return owner
    missing = await db.scalars(
        select(Organization.id)
        .outerjoin(MetaSimulatedApp, MetaSimulatedApp.organization_id == Organization.id)
        .where(MetaSimulatedApp.app_id.is_(None))
    )
    for organization_id in list(missing):
        derived = simulated_app_id(keyring, organization_id)
        await insert_ignoring_duplicates(db, MetaSimulatedApp, {"app_id": derived, "organization_id": organization_id})
        if derived == app_id:
            owner = organization_id
    return owner


async def insert_ignoring_duplicates(db: AsyncSession, model: type, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING (both databases): True when the row was new."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(model).values(**values).on_conflict_do_nothing()
    result = await db.execute(statement)
    return result.rowcount == 1


def owned_by_app(app: InboundApp, organization_id_column: Any) -> Any:
    """SQL: the organization in `organization_id_column` uses `app` (in the app's mode)."""
    if not app.livemode:
        return organization_id_column == app.test_owner
    return exists(
        select(1).where(
            ModeSettings.organization_id == organization_id_column,
            ModeSettings.livemode.is_(True),
            func.coalesce(ModeSettings.meta_app_id, literal(app.server_app_id)) == app.app_id,
        )
    )


# -- handshake and signature ---------------------------------------------------------------


def verify_token_matches(app: InboundApp, given: str) -> bool:
    return any(hmac.compare_digest(given.encode(), token.encode()) for token in app.verify_tokens)


def signature_matches(app: InboundApp, raw_body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`."""
    if not header or not header.startswith("sha256="):
        return False
    given = header.strip().lower().encode()
    matched = False
    for secret in app.secrets:  # every secret is tried, so timing says nothing about which matched
        matched = hmac.compare_digest(given, hub_signature(secret, raw_body).encode()) or matched
    return matched


# -- receiving ------------------------------------------------------------------------------


@dataclass
class Received:
    relay_ids: list[str] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    proof_wabas: list[str] = field(default_factory=list)


def _text_id(value: Any) -> str | None:
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:32]
    return None


def _changes(payload: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(entry, change) pairs of the fields Roost acts on; anything malformed is skipped."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        return []
    pairs = []
    for entry in payload["entry"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
            continue
        for change in entry["changes"]:
            if (
                isinstance(change, dict)
                and change.get("field") in APPLIED_FIELDS
                and isinstance(change.get("value"), dict)
            ):
                pairs.append((entry, change))
    return pairs


def _dedupe_key(app_id: str, entry: dict[str, Any], change: dict[str, Any]) -> str:
    identity = json.dumps(
        [app_id, str(entry.get("id")), entry.get("time"), change["field"], change["value"]],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(identity.encode()).hexdigest()


async def receive(db: AsyncSession, app: InboundApp, raw_body: bytes, signature: str, now: int) -> Received:
    """A POST whose signature was verified: queue its relays, store and apply the changes Roost
    acts on, each once. Runs in the caller's transaction."""
    received = Received()
    for url in app.forward_urls:
        _queue_relay(db, app, url, raw_body, signature, now, received)
    try:
        payload = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        payload = None  # relayed as it is; nothing in it for Roost
    await _follow_coexistence(db, app, payload, now, received)
    for entry, change in _changes(payload):
        value = change["value"]
        waba_info = value.get("waba_info") if isinstance(value.get("waba_info"), dict) else {}
        field_name = change["field"]
        event = value.get("event") if isinstance(value.get("event"), str) else None
        decision = value.get("decision") if isinstance(value.get("decision"), str) else None
        entry_time = entry.get("time")
        row = {
            "id": new_id("mwc"),
            "dedupe_key": _dedupe_key(app.app_id, entry, change),
            "app_id": app.app_id,
            "livemode": app.livemode,
            "field": field_name,
            "event": event[:64] if event else None,
            # account_update's PARTNER_* events name the WABA in waba_info (the entry is the
            # partner's business); every other change's entry is the WABA itself.
            "waba_id": _text_id(waba_info.get("waba_id")) or _text_id(entry.get("id")),
            "owner_business_id": _text_id(waba_info.get("owner_business_id")),
            "decision": decision[:16] if decision else None,
            **(_solution(waba_info) if field_name == ACCOUNT_UPDATE and event == PARTNER_ADDED else {}),
            "occurred_at": int(entry_time) * 1000 if isinstance(entry_time, int) and not isinstance(entry_time, bool) else None,
            "received_at": now,
        }
        if not await insert_ignoring_duplicates(db, MetaWebhookChange, row):
            received.duplicates += 1
            continue
        received.stored += 1
        await _apply(db, app, row, value, received)
    return received


def _queue_relay(db: AsyncSession, app: InboundApp, url: str, body: bytes, signature: str, now: int, received: Received) -> None:
    """A payload to POST to `url` (with its X-Hub-Signature-256), due now: the request tries it once
    after answering Meta, the worker after that (deliver_relays)."""
    relay = MetaWebhookRelay(
        id=new_id("mrel"), app_id=app.app_id, url=url, body=body, signature=signature,
        attempts=0, next_attempt_at=now, created_at=now,
    )
    db.add(relay)
    received.relay_ids.append(relay.id)


def _solution(waba_info: dict[str, Any]) -> dict[str, Any]:
    """A PARTNER_ADDED's Multi-Partner Solution: its id and its partners' businesses (ids only)."""
    solution_id = _text_id(waba_info.get("solution_id"))
    partners = waba_info.get("solution_partner_business_ids")
    partner_ids = [_text_id(item) for item in partners] if isinstance(partners, list) else []
    return {
        "solution_id": solution_id,
        "solution_partner_business_ids": [item for item in partner_ids[:20] if item] if solution_id else None,
    }


async def _apply(db: AsyncSession, app: InboundApp, change: dict[str, Any], value: dict[str, Any], received: Received) -> None:
    waba_id = change["waba_id"]
    if waba_id is None:
        return
    if change["field"] == ACCOUNT_UPDATE and change["event"] == PARTNER_ADDED and change.get("solution_id"):
        for profile in await _profiles_of(db, app, waba_id):
            await profiles.record_solution(db, profile, app.app_id)
    if change["field"] == ACCOUNT_UPDATE and change["event"] in PROOF_EVENTS:
        received.proof_wabas.append(waba_id)  # recovered sessions may now be claimed
    if change["field"] in HEALTH_FIELDS:
        await _apply_health(db, app, waba_id, change, value)


async def _apply_health(db: AsyncSession, app: InboundApp, waba_id: str, change: dict[str, Any], value: dict[str, Any]) -> None:
    """Account health: the change, to each profile of the WABA this app serves (profiles.health)."""
    applied = health.Change(
        field=change["field"],
        event=change["event"],
        value=value,
        occurred_at=change["occurred_at"] or change["received_at"],
        received_at=change["received_at"],
    )
    for profile in await _profiles_of(db, app, waba_id):
        await health.apply_to_profile(db, profile, applied)


async def _profiles_of(db: AsyncSession, app: InboundApp, waba_id: str) -> list[BusinessProfile]:
    """Every profile of the WABA this app serves, connected or not, locked for the change."""
    query = select(BusinessProfile).where(
        BusinessProfile.waba_id == waba_id,
        BusinessProfile.livemode == app.livemode,
        owned_by_app(app, BusinessProfile.organization_id),
    )
    return list(await db.scalars(query.order_by(BusinessProfile.id).with_for_update()))


# -- coexistence WABAs: the sync webhooks, and forwarding what Meta would send to an override ------


async def _coexistence_profiles_of(db: AsyncSession, app: InboundApp, waba_id: str) -> list[BusinessProfile]:
    """The connected coexistence profiles of the WABA. No row lock: every `messages` webhook of
    every WABA without an override passes here, and only the synced number's row is written
    (locked in _follow_sync)."""
    return list(await db.scalars(
        select(BusinessProfile).where(
            BusinessProfile.waba_id == waba_id,
            BusinessProfile.status == profiles.CONNECTED,
            BusinessProfile.coexistence.is_(True),
            BusinessProfile.livemode == app.livemode,
            owned_by_app(app, BusinessProfile.organization_id),
        ).order_by(BusinessProfile.id)
    ))


def _entries(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return []
    entries = payload.get("entry")
    return [entry for entry in entries if isinstance(entry, dict) and isinstance(entry.get("changes"), list)] if isinstance(entries, list) else []


async def _follow_coexistence(db: AsyncSession, app: InboundApp, payload: Any, now: int, received: Received) -> None:
    """A coexistence WABA has no override_callback_uri (provisioning.steps.SubscribeApp), so
    Meta sends all its webhooks here: the sync fields move its numbers' syncs on (each change
    once), and every override-able change is forwarded to the organization's
    messages_callback_url as Meta would have sent it there, one entry per POST, signed with
    the app's secret (the server-wide app carries many tenants: an entry is one WABA's)."""
    for entry in _entries(payload):
        waba_id = _text_id(entry.get("id"))
        changes = [change for change in entry["changes"] if isinstance(change, dict) and overridable(change.get("field"))]
        if waba_id is None or not changes:
            continue
        for profile in await _coexistence_profiles_of(db, app, waba_id):
            for change in changes:
                if change["field"] in SYNC_FIELDS and isinstance(change.get("value"), dict):
                    await _follow_sync(db, app, profile, entry, change, now)
            mode = await db.get(ModeSettings, (profile.organization_id, profile.livemode))
            secret = app.secret_for(profile.organization_id)
            if mode is None or not mode.messages_callback_url or secret is None:
                continue
            body = json.dumps(
                {"object": "whatsapp_business_account", "entry": [{**entry, "changes": changes}]},
                separators=(",", ":"), ensure_ascii=False,
            ).encode()
            _queue_relay(db, app, mode.messages_callback_url, body, hub_signature(secret, body), now, received)


async def _follow_sync(
    db: AsyncSession, app: InboundApp, profile: BusinessProfile, entry: dict[str, Any], change: dict[str, Any], now: int
) -> None:
    """One history or smb_app_state_sync change, applied once (a redelivery is recognised by
    its content, as account_update's are)."""
    value = change["value"]
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    phone_number_id = _text_id(metadata.get("phone_number_id"))
    if phone_number_id is None:
        return
    row = {
        "id": new_id("mwc"), "dedupe_key": _dedupe_key(app.app_id, entry, change), "app_id": app.app_id,
        "livemode": app.livemode, "field": change["field"], "event": None, "waba_id": profile.waba_id,
        "owner_business_id": None, "decision": None, "occurred_at": None, "received_at": now,
    }
    if not await insert_ignoring_duplicates(db, MetaWebhookChange, row):
        return
    phone = await db.scalar(
        select(PhoneNumber)
        .where(
            PhoneNumber.business_profile_id == profile.id,
            PhoneNumber.phone_number_id == phone_number_id,
            PhoneNumber.coexistence_onboarded_at.is_not(None),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if phone is None:
        return
    if change["field"] == HISTORY:
        coexistence.history_arrived(db, phone, value, now)
    else:
        coexistence.contacts_arrived(db, phone, now)


# -- relaying -------------------------------------------------------------------------------


async def _take_relay(db: AsyncSession, relay_id: str | None, now: int, limit: int) -> list[tuple[str, str, bytes, str | None]]:
    """Due relays, pushed past this attempt so that no other sender takes them meanwhile."""
    query = select(MetaWebhookRelay).where(MetaWebhookRelay.next_attempt_at <= now)
    if relay_id is not None:
        query = query.where(MetaWebhookRelay.id == relay_id)
    rows = list(
        await db.scalars(query.order_by(MetaWebhookRelay.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
    )
    for row in rows:
        row.next_attempt_at = now + RELAY_ATTEMPT_MS
    return [(row.id, row.url, row.body or b"", row.signature) for row in rows]


async def deliver_relays(
    sessions: async_sessionmaker, http: httpx.AsyncClient, now: int, *, relay_id: str | None = None, limit: int = 20
) -> int:
    """POST due relays to their forward URL; 2xx = delivered (the body is then deleted)."""
    async with sessions() as db:
        async with db.begin():
            work = await _take_relay(db, relay_id, now, limit)
        delivered = 0
        for row_id, url, body, signature in work:
            headers = {"Content-Type": "application/json", "User-Agent": "Roost-Meta-Relay/1"}
            if signature:
                headers["X-Hub-Signature-256"] = signature
            status, problem = None, None
            try:
                response = await http.post(url, content=body, headers=headers, follow_redirects=False)
                status = response.status_code
            except (httpx.HTTPError, AddressNotAllowed) as error:
                problem = f"{type(error).__name__}: {error}"[:500]
            async with db.begin():
                relay = await db.get(MetaWebhookRelay, row_id, with_for_update=True, populate_existing=True)
                finished = status is not None and 200 <= status < 300
                relay.attempts += 1
                relay.last_status, relay.last_error = status, problem
                after = now_ms()
                if finished:
                    relay.delivered_at, relay.body, relay.next_attempt_at = after, None, None
                    delivered += 1
                elif relay.attempts > len(RELAY_BACKOFF_MS):
                    relay.abandoned_at, relay.body, relay.next_attempt_at = after, None, None
                    log.warning("meta_relay_abandoned", relay_id=row_id, app_id=relay.app_id, attempts=relay.attempts)
                else:
                    relay.next_attempt_at = after + RELAY_BACKOFF_MS[relay.attempts - 1]
        return delivered


async def purge_finished_relays(db: AsyncSession, now: int) -> int:
    result = await db.execute(
        delete(MetaWebhookRelay).where(
            MetaWebhookRelay.created_at < now - RELAY_KEEP_MS,
            MetaWebhookRelay.next_attempt_at.is_(None),
        )
    )
    return result.rowcount or 0

