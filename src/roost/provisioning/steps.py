"""The steps of provisioning (SPEC 5.1, 5.3). Each has three parts, so the runner can keep Meta
out of its transactions and join a step's record to the next step's start in one:
`prepare` reads what the step needs (in a transaction, the session row locked), `call` talks to
Meta (no transaction open), `record` writes the outcome (in a transaction again). A reason not
to connect the account is raised as StepRefused, from `call` or `record`."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost.meta.config import MetaApp
from roost.meta.graph import GraphClient, MetaError
from roost.organizations.models import ModeSettings
from roost.profiles import coexistence, registration
from roost.profiles.service import (
    connected_elsewhere, profile_object, record_review, record_solution, upsert_phone_number, upsert_profile,
)
from roost.profiles.tokens import open_session_token, seal_profile_token, seal_session_token
from roost.runtime import Runtime
from roost.sessions.models import SignupSession
from roost.sessions.state import SessionStatus, emit_webhook, transition


class StepRefused(Exception):
    """A step found a reason the account must not be connected (not a Meta failure)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Context:
    """One run of a session's steps: the organization's Meta app (resolved once per run) and
    what an earlier step of this run read for a later one."""

    runtime: Runtime
    app: MetaApp
    graph: GraphClient
    mode: ModeSettings
    # waba_id -> (the WABA, its phone numbers): read alongside debug_token or the subscription
    assets: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Token:
    token: str
    waba_id: str | None


def _token(context: Context, session: SignupSession) -> Token:
    return Token(open_session_token(context.runtime.keyring, session), session.waba_id)


async def _fetch_assets(context: Context, token: Token) -> None:
    """The WABA and its numbers (two reads at once), kept for create_profile."""
    context.assets[token.waba_id] = tuple(
        await asyncio.gather(context.graph.waba(token.waba_id, token.token), context.graph.phone_numbers(token.waba_id, token.token))
    )


async def _read_assets(context: Context, token: Token) -> None:
    """`_fetch_assets` beside a call they do not depend on (they write nothing); if a read
    fails, create_profile reads them again itself, and reports the failure."""
    try:
        await _fetch_assets(context, token)
    except MetaError:
        return


class Step:
    name: str

    async def prepare(self, context: Context, db: AsyncSession, session: SignupSession) -> Any:
        return None

    def calls_meta(self, context: Context, prepared: Any) -> bool:
        """False: `call` has nothing to ask Meta, so the runner records the step at once."""
        return True

    async def call(self, context: Context, prepared: Any) -> Any:
        return None

    async def record(self, context: Context, db: AsyncSession, session: SignupSession, prepared: Any, result: Any, now: int) -> str:
        """Returns the step's final status (`now`: the time the runner records it at)."""
        return "succeeded"

    def after_success(self, db: AsyncSession, session: SignupSession, now: int) -> None:
        """What follows the step's success in the same transaction, once it is recorded."""


class ClaimToken(Step):
    """A claim has no code: fetch the customer's business token with the system user (SPEC 5.3)."""

    name = "claim_token"

    async def prepare(self, context, db, session):
        return session.business_id

    async def call(self, context, business_id):
        if not context.app.system_user_token:
            raise StepRefused(
                "system_user_token_missing", "Claiming needs the Meta app's system user token, and none is configured."
            )
        if not business_id:
            raise StepRefused("business_id_unknown", "The customer's business portfolio id is unknown, so no token can be fetched.")
        return await context.graph.business_token_for(business_id, context.app.system_user_token)

    async def record(self, context, db, session, business_id, token, now):
        session.business_token_encrypted = seal_session_token(context.runtime.keyring, session, token)
        return "succeeded"


class ResolveAssets(Step):
    """debug_token proves which WABAs the token grants (FINISH is a claim, not a proof); the
    claimed WABA's reads run beside it, since they write nothing."""

    name = "resolve_assets"

    async def prepare(self, context, db, session):
        return _token(context, session)

    async def call(self, context, token: Token):
        granting = context.graph.debug_token(token.token, context.app.system_user_token)
        if token.waba_id:
            granted, _ = await asyncio.gather(granting, _read_assets(context, token))
        else:
            granted = await granting
        if not granted.is_valid or not granted.waba_ids:
            raise StepRefused("waba_not_granted", "The business token grants access to no WhatsApp Business Account.")
        if token.waba_id and token.waba_id not in granted.waba_ids:
            context.assets.pop(token.waba_id, None)
            raise StepRefused(
                "waba_not_granted", f"The WhatsApp Business Account {token.waba_id} is not among those the customer granted."
            )
        return granted

    async def record(self, context, db, session, token, granted, now):
        waba_id = session.waba_id or granted.waba_ids[0]
        await _refuse_if_connected_elsewhere(db, session, waba_id)
        session.waba_id = waba_id
        if not session.business_id and granted.business_ids:
            session.business_id = granted.business_ids[0]
        return "succeeded"


class SubscribeApp(Step):
    """Subscribes the app to the WABA and points the WABA's messages at the organization's
    messages_callback_url (override_callback_uri), except for a coexistence WABA: its sync
    webhooks (history, smb_app_state_sync) would go to the override too, so Roost keeps them
    coming to its own callback, follows them, and forwards each entry (inbound.service)."""

    name = "subscribe_app"

    async def prepare(self, context, db, session):
        return _token(context, session), session.coexistence

    async def call(self, context, prepared):
        token, asked_for_coexistence = prepared
        if token.waba_id in context.assets:
            await context.graph.subscribe_app(token.waba_id, token.token)
        else:  # the WABA came from debug_token: its reads go beside the subscription
            await asyncio.gather(context.graph.subscribe_app(token.waba_id, token.token), _read_assets(context, token))
        # A plain subscribe also clears an override set by an earlier connection (research §4.3).
        if context.mode.messages_callback_url and not _coexistence(context, token.waba_id, asked_for_coexistence):
            await context.graph.override_callback(
                token.waba_id, token.token, context.mode.messages_callback_url, context.app.verify_token or ""
            )


def _coexistence(context: Context, waba_id: str, asked_for: bool) -> bool:
    """Whether the WABA has a WhatsApp Business app number (read with its assets); when those
    reads failed, whether the session asked Meta for the Business app flow."""
    if waba_id in context.assets:
        return any(phone.is_on_biz_app for phone in context.assets[waba_id][1])
    return asked_for


class ShareCreditLine(Step):
    name = "share_credit_line"

    async def prepare(self, context, db, session):
        return session.waba_id

    async def call(self, context, waba_id):
        app = context.app
        if not (app.credit_line_id and app.system_user_token):
            raise StepRefused(
                "credit_line_not_configured",
                "Solution Partners need a credit line id and a system user token to share the credit line.",
            )
        await context.graph.share_credit_line(app.credit_line_id, waba_id, app.system_user_token)


class CreateProfile(Step):
    name = "create_profile"

    async def prepare(self, context, db, session):
        return _token(context, session)

    def calls_meta(self, context, token: Token):
        return token.waba_id not in context.assets

    async def call(self, context, token: Token):
        # Not read earlier in this run (a resumed run, or an earlier read failed): read now, and
        # a failure is this step's.
        await _fetch_assets(context, token)

    async def record(self, context, db, session, token, _, now):
        waba_id = session.waba_id
        waba, phones = context.assets[waba_id]
        await _refuse_if_connected_elsewhere(db, session, waba_id)
        owner = waba.owner_business_info
        owner_id = owner.id if owner else None
        profile = await upsert_profile(
            db,
            organization_id=session.organization_id,
            livemode=session.livemode,
            session_id=session.id,
            waba_id=waba_id,
            business_id=session.business_id or owner_id,
            business_name=(owner.name if owner else None) or waba.name,
            coexistence=any(phone.is_on_biz_app for phone in phones),
            token_encrypted="",
            now=now,
        )
        profile.token_encrypted = seal_profile_token(context.runtime.keyring, profile.organization_id, profile.id, token.token)
        await record_solution(db, profile, context.app.app_id)
        await record_review(db, profile, context.app.app_id)
        numbers = [await upsert_phone_number(db, profile, meta_phone, now) for meta_phone in phones]
        for number in numbers:
            if number.is_on_biz_app:  # Meta's 24-hour window for the syncs opens now (worker: coexistence.run_due)
                coexistence.start(number, history_sync=context.mode.coexistence_history_sync, now=now)
        emit_webhook(db, session, "whatsapp.business_profile.connected", profile_object(profile, numbers), now)
        session.business_profile_id = profile.id
        session.business_id = session.business_id or owner_id
        if not session.phone_number_id and phones:
            session.phone_number_id = phones[0].id
        session.business_token_encrypted = None  # the profile holds it now
        return "succeeded"

    def after_success(self, db, session, now):
        """The session is completed (a claim's too)."""
        claimed = session.status == SessionStatus.RECOVERED
        if claimed:
            session.error = None  # the lost code no longer matters: the account is connected
        transition(db, session, SessionStatus.COMPLETED, at=now, reason="claimed" if claimed else "provisioned")


class RegisterPhones(Step):
    """Each number's attempt is counted and marked in flight in `prepare`; the numbers are
    registered concurrently (each is its own attempt at Meta)."""

    name = "register_phone"

    async def prepare(self, context, db, session):
        phone_ids = await registration.registrable_numbers(db, session.business_profile_id)
        return [await registration.begin_attempt(db, context.runtime.keyring, phone_id) for phone_id in phone_ids]

    def calls_meta(self, context, attempts):
        return bool(attempts)

    async def call(self, context, attempts):
        return await asyncio.gather(*(registration.call_meta(context.graph, attempt) for attempt in attempts))

    async def record(self, context, db, session, attempts, errors, now):
        for attempt, error in zip(attempts, errors or (), strict=False):
            await registration.record_outcome(db, attempt, error)
        if not attempts:
            return "skipped"
        return "failed" if any(error is not None for error in errors) else "succeeded"


async def _refuse_if_connected_elsewhere(db: AsyncSession, session: SignupSession, waba_id: str) -> None:
    if await connected_elsewhere(db, waba_id, session.organization_id, session.livemode):
        raise StepRefused("waba_already_connected", "This WhatsApp Business Account is already connected to another organization.")


STEPS: dict[str, Step] = {
    step.name: step
    for step in (ClaimToken(), ResolveAssets(), SubscribeApp(), ShareCreditLine(), CreateProfile(), RegisterPhones())
}
