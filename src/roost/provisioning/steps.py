"""The steps of provisioning (SPEC 5.1, 5.3): each calls Meta, then records its own success on
the session's plan; a reason not to connect the account is raised as StepRefused."""

from collections.abc import Awaitable, Callable

from roost.kit.timeutil import now_ms
from roost.meta.config import MetaApp
from roost.meta.graph import GraphClient
from roost.organizations.models import ModeSettings
from roost.profiles.registration import register_number, registrable_numbers
from roost.profiles.service import connected_elsewhere, profile_object, upsert_phone_number, upsert_profile
from roost.profiles.tokens import open_session_token, seal_profile_token, seal_session_token
from roost.provisioning.plan import finish_step, lock
from roost.runtime import Runtime
from roost.sessions.state import SessionStatus, emit_webhook, transition


class StepRefused(Exception):
    """A step found a reason the account must not be connected (not a Meta failure)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def claim_token(runtime: Runtime, db, session_id, meta_app: MetaApp, graph: GraphClient, mode) -> None:
    """A claim has no code: fetch the customer's business token with the system user (SPEC 5.3)."""
    async with db.begin():
        session = await lock(db, session_id)
        business_id = session.business_id
    if not meta_app.system_user_token:
        raise StepRefused(
            "system_user_token_missing", "Claiming needs the Meta app's system user token, and none is configured."
        )
    if not business_id:
        raise StepRefused("business_id_unknown", "The customer's business portfolio id is unknown, so no token can be fetched.")
    token = await graph.business_token_for(business_id, meta_app.system_user_token)
    async with db.begin():
        session = await lock(db, session_id)
        session.business_token_encrypted = seal_session_token(runtime.keyring, session, token)
        finish_step(db, session, "claim_token", "succeeded", now_ms())


async def resolve_assets(runtime: Runtime, db, session_id, meta_app: MetaApp, graph: GraphClient, mode) -> None:
    async with db.begin():
        session = await lock(db, session_id)
        token = open_session_token(runtime.keyring, session)
        claimed = session.waba_id
    granted = await graph.debug_token(token, meta_app.system_user_token)
    if not granted.is_valid or not granted.waba_ids:
        raise StepRefused("waba_not_granted", "The business token grants access to no WhatsApp Business Account.")
    if claimed and claimed not in granted.waba_ids:
        # FINISH data comes from the browser: a claim, not a proof.
        raise StepRefused(
            "waba_not_granted", f"The WhatsApp Business Account {claimed} is not among those the customer granted."
        )
    waba_id = claimed or granted.waba_ids[0]
    async with db.begin():
        session = await lock(db, session_id)
        if await connected_elsewhere(db, waba_id, session.organization_id, session.livemode):
            raise StepRefused(
                "waba_already_connected", "This WhatsApp Business Account is already connected to another organization."
            )
        session.waba_id = waba_id
        if not session.business_id and granted.business_ids:
            session.business_id = granted.business_ids[0]
        finish_step(db, session, "resolve_assets", "succeeded", now_ms())


async def subscribe_app(runtime: Runtime, db, session_id, meta_app: MetaApp, graph: GraphClient, mode: ModeSettings) -> None:
    async with db.begin():
        session = await lock(db, session_id)
        token, waba_id = open_session_token(runtime.keyring, session), session.waba_id
    await graph.subscribe_app(waba_id, token)
    if mode.messages_callback_url:
        await graph.override_callback(waba_id, token, mode.messages_callback_url, meta_app.verify_token or "")
    async with db.begin():
        session = await lock(db, session_id)
        finish_step(db, session, "subscribe_app", "succeeded", now_ms())


async def share_credit_line(runtime: Runtime, db, session_id, meta_app: MetaApp, graph: GraphClient, mode) -> None:
    async with db.begin():
        session = await lock(db, session_id)
        waba_id = session.waba_id
    if not (meta_app.credit_line_id and meta_app.system_user_token):
        raise StepRefused(
            "credit_line_not_configured",
            "Solution Partners need a credit line id and a system user token to share the credit line.",
        )
    await graph.share_credit_line(meta_app.credit_line_id, waba_id, meta_app.system_user_token)
    async with db.begin():
        session = await lock(db, session_id)
        finish_step(db, session, "share_credit_line", "succeeded", now_ms())


async def create_profile(runtime: Runtime, db, session_id, meta_app: MetaApp, graph: GraphClient, mode) -> None:
    async with db.begin():
        session = await lock(db, session_id)
        token, waba_id = open_session_token(runtime.keyring, session), session.waba_id
    waba = await graph.waba(waba_id, token)
    phones = await graph.phone_numbers(waba_id, token)
    async with db.begin():
        session = await lock(db, session_id)
        now = now_ms()
        if await connected_elsewhere(db, waba_id, session.organization_id, session.livemode):
            raise StepRefused(
                "waba_already_connected", "This WhatsApp Business Account is already connected to another organization."
            )
        owner = waba.get("owner_business_info") or {}
        profile = await upsert_profile(
            db,
            organization_id=session.organization_id,
            livemode=session.livemode,
            session_id=session.id,
            waba_id=waba_id,
            business_id=session.business_id or owner.get("id"),
            business_name=owner.get("name") or waba.get("name"),
            coexistence=any(phone.get("is_on_biz_app") for phone in phones),
            token_encrypted="",
            now=now,
        )
        profile.token_encrypted = seal_profile_token(runtime.keyring, profile.organization_id, profile.id, token)
        numbers = [await upsert_phone_number(db, profile, meta_phone, now) for meta_phone in phones]
        emit_webhook(db, session, "whatsapp.business_profile.connected", profile_object(profile, numbers), now)
        session.business_profile_id = profile.id
        session.business_id = session.business_id or owner.get("id")
        if not session.phone_number_id and phones:
            session.phone_number_id = str(phones[0]["id"])
        session.business_token_encrypted = None  # the profile holds it now
        finish_step(db, session, "create_profile", "succeeded", now)
        claimed = session.status == SessionStatus.RECOVERED
        if claimed:
            session.error = None  # the lost code no longer matters: the account is connected
        transition(db, session, SessionStatus.COMPLETED, at=now, reason="claimed" if claimed else "provisioned")


async def register_phones(runtime: Runtime, db, session_id, meta_app: MetaApp, graph: GraphClient, mode) -> None:
    async with db.begin():
        session = await lock(db, session_id)
        phone_ids = await registrable_numbers(db, session.business_profile_id)
    failed = False
    for phone_id in phone_ids:
        ok = await register_number(runtime, phone_id)
        failed = failed or not ok
    async with db.begin():
        session = await lock(db, session_id)
        finish_step(db, session, "register_phone", "failed" if failed else ("succeeded" if phone_ids else "skipped"), now_ms())
        session.provisioning_next_at = session.provisioning_lease_until = None


STEP_RUNNERS: dict[str, Callable[..., Awaitable[None]]] = {
    "claim_token": claim_token,
    "resolve_assets": resolve_assets,
    "subscribe_app": subscribe_app,
    "share_credit_line": share_credit_line,
    "create_profile": create_profile,
    "register_phone": register_phones,
}
