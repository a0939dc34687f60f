"""Coexistence sync on Meta's side (research §4.8): `POST /{phone}/smb_app_data` starts a
WhatsApp Business app number's contacts sync (`smb_app_state_sync`) or chat history sync
(`history`), each once (2593107 after that), within 24 hours of onboarding (2593108 after);
Meta then sends the contacts and the history in webhooks, chunked, out of order, with progress,
or one `history` webhook with error 2593109 when the business declined to share its chats."""

import asyncio
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.kit.ids import new_id
from roost.kit.timeutil import now_ms, to_iso
from roost.simulator import errors as graph_errors
from roost.simulator.errors import GraphError
from roost.simulator.models import SimPhoneNumber, SimSyncRequest

CONTACTS, HISTORY = "smb_app_state_sync", "history"
SYNC_TYPES = (CONTACTS, HISTORY)
WINDOW_MS = 24 * 3_600_000
ALREADY_REQUESTED, WINDOW_CLOSED, HISTORY_DECLINED = 2593107, 2593108, 2593109

# Meta starts sending a little after it accepted the request; between chunks, a short pause.
FIRST_WEBHOOK_DELAY_S = 1.0
BETWEEN_WEBHOOKS_S = 0.15

# (phase, chunk_order, progress) of the history chunks, and the order they are sent in: Meta
# says chunks may arrive out of order, so within each phase the second goes first.
HISTORY_CHUNKS = ((0, 1, 20), (0, 2, 40), (1, 1, 60), (1, 2, 80), (2, 1, 100))
HISTORY_SEND_ORDER = (1, 0, 3, 2, 4)
# Fictional contacts (555-01xx numbers are reserved for fiction), in two webhooks.
CONTACTS_BOOK = (
    ("Pablo Morales", "Pablo", "16315550101"),
    ("Ana Silva", "Ana", "16315550102"),
    ("Kenji Sato", "Kenji", "16315550103"),
    ("Amara Okafor", "Amara", "16315550104"),
    ("Lena Vogel", "Lena", "16315550105"),
)
CONTACT_CHUNKS = (CONTACTS_BOOK[:3], CONTACTS_BOOK[3:])


async def request_sync(db: AsyncSession, app_id: str, phone: SimPhoneNumber, params: dict[str, Any]) -> dict[str, Any]:
    """The rules of one smb_app_data request. A request that reached the rules is recorded,
    refused or not (the caller commits, then answers a refusal)."""
    product = params.get("messaging_product")
    if product is None:
        raise graph_errors.missing_parameter("messaging_product")
    if product != "whatsapp":
        raise graph_errors.invalid_parameter("Param messaging_product must be one of {whatsapp}")
    sync_type = params.get("sync_type")
    if sync_type is None:
        raise graph_errors.missing_parameter("sync_type")
    if sync_type not in SYNC_TYPES:
        raise graph_errors.invalid_parameter(f"Param sync_type must be one of {{{', '.join(SYNC_TYPES)}}}")
    if not phone.is_on_biz_app:
        # [U] Meta documents no error for a number not onboarded from the Business app.
        raise graph_errors.invalid_parameter(
            "(#100) smb_app_data is only available for a WhatsApp Business app phone number onboarded with Embedded Signup"
        )
    now = now_ms()
    accepted = await db.scalar(
        select(SimSyncRequest.id).where(
            SimSyncRequest.phone_number_id == phone.id, SimSyncRequest.sync_type == sync_type, SimSyncRequest.outcome == "accepted"
        )
    )

    def record(outcome: str, request_id: str | None = None) -> None:
        db.add(SimSyncRequest(
            id=new_id("simq"), phone_number_id=phone.id, app_id=app_id, sync_type=str(sync_type), request_id=request_id,
            outcome=outcome, created_at=now,
        ))

    if accepted is not None:
        record("already_requested")
        return _refusal(ALREADY_REQUESTED, f"The {sync_type} sync was already requested for this phone number")
    if now - phone.onboarded_at > WINDOW_MS:
        record("window_closed")
        return _refusal(WINDOW_CLOSED, "The sync must be requested within 24 hours of onboarding")
    request_id = secrets.token_hex(16)
    record("accepted", request_id)
    return {"messaging_product": "whatsapp", "request_id": request_id}


def _refusal(code: int, message: str) -> dict[str, Any]:
    """Refusals are returned (not raised) so the attempt's record commits first."""
    return {"error": GraphError(code, f"(#{code}) {message}", status=400)}


def sync_request_object(row: SimSyncRequest) -> dict[str, Any]:
    return {
        "id": row.id, "object": "simulator.sync_request", "phone_number_id": row.phone_number_id,
        "sync_type": row.sync_type, "request_id": row.request_id, "outcome": row.outcome, "created_at": to_iso(row.created_at),
    }


# -- the webhooks that follow ------------------------------------------------------------------


def _value(phone: SimPhoneNumber, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": f"{phone.country_code}{phone.number}", "phone_number_id": phone.id},
        key: items,
    }


def contacts_values(phone: SimPhoneNumber) -> list[dict[str, Any]]:
    stamp = str(now_ms() // 1000)
    return [
        _value(phone, "state_sync", [
            {"type": "contact", "contact": {"full_name": full, "first_name": first, "phone_number": number},
             "action": "add", "metadata": {"timestamp": stamp}}
            for full, first, number in chunk
        ])
        for chunk in CONTACT_CHUNKS
    ]


def history_values(phone: SimPhoneNumber) -> list[dict[str, Any]]:
    business = f"{phone.country_code}{phone.number}"
    now = now_ms() // 1000
    values = []
    for index in HISTORY_SEND_ORDER:
        phase, chunk_order, progress = HISTORY_CHUNKS[index]
        _, _, customer = CONTACTS_BOOK[index]
        at = str(now - (phase * 45 + chunk_order) * 86_400)
        thread = {"id": customer, "messages": [
            {"from": customer, "id": f"wamid.sim{secrets.token_hex(8)}", "timestamp": at, "type": "text",
             "text": {"body": f"Hello (phase {phase}, chunk {chunk_order})"}, "history_context": {"status": "READ"}},
            {"from": business, "to": customer, "id": f"wamid.sim{secrets.token_hex(8)}", "timestamp": at, "type": "text",
             "text": {"body": "Thanks, we will get back to you"}, "history_context": {"status": "DELIVERED"}},
        ]}
        values.append(_value(phone, "history", [
            {"metadata": {"phase": phase, "chunk_order": chunk_order, "progress": progress}, "threads": [thread]}
        ]))
    return values


def declined_value(phone: SimPhoneNumber) -> dict[str, Any]:
    return _value(phone, "history", [{"errors": [{
        "code": HISTORY_DECLINED,
        "title": "History sync is turned off by the business",
        "message": "The business declined to share its WhatsApp Business app chat history",
        "error_data": {"details": "The business chose not to share chat history when connecting to Cloud API"},
    }]}])


def echo_value(phone: SimPhoneNumber, to: str, body: str) -> dict[str, Any]:
    """A message the business sent from the WhatsApp Business app (smb_message_echoes)."""
    return _value(phone, "message_echoes", [{
        "from": f"{phone.country_code}{phone.number}", "to": to, "id": f"wamid.sim{secrets.token_hex(8)}",
        "timestamp": str(now_ms() // 1000), "type": "text", "text": {"body": body},
    }])


async def send_after_acceptance(emitter: Any, app_id: str, phone_id: str, sync_type: str) -> None:
    """The webhooks Meta sends once it accepted a sync request, a little later, one after
    another (each through the emitter: signed, recorded, retried)."""
    from roost.simulator.webhooks import envelope

    await asyncio.sleep(FIRST_WEBHOOK_DELAY_S)
    async with emitter.sim.sessions() as db, db.begin():
        phone = await db.get(SimPhoneNumber, phone_id)
        waba_id = phone.waba_id
        if sync_type == CONTACTS:
            values = contacts_values(phone)
        elif phone.history_declined:
            values = [declined_value(phone)]
        else:
            values = history_values(phone)
    for index, value in enumerate(values):
        if index:
            await asyncio.sleep(BETWEEN_WEBHOOKS_S)
        await emitter.emit(app_id, sync_type, envelope(waba_id, sync_type, value), waba_id=waba_id)
