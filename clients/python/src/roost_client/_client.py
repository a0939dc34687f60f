"""The clients: `Roost` (sync) and `AsyncRoost` (async).

The resource classes below describe each endpoint once; they hand a `Call` to the client's
transport, which sends it (with retries) and returns the object — directly for `Roost`, as a
coroutine for `AsyncRoost` — or, for lists, a pager.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote

import httpx

from roost_client import _core
from roost_client._core import AUTO, NOT_GIVEN, Call, Options, body_of, encode_query
from roost_client.errors import RoostError
from roost_client.models import (
    AccessToken,
    DeletedObject,
    AdminKey,
    BusinessProfile,
    EmbeddedSignupSession,
    Event,
    Funnel,
    OrganizationSettings,
    PhoneNumber,
    AuditLogEntry,
    EventResend,
    EndpointTest,
    RecoveredAttempt,
    RecoveryAttempt,
    ResponseInfo,
    SessionEvent,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    model_for,
)
from roost_client.pagination import AsyncPager, Pager


def _segment(value: str, what: str) -> str:
    """An id as one path segment (escaped, so an id can never change the path)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return quote(value, safe="")


def _info(response: httpx.Response) -> ResponseInfo:
    return ResponseInfo(response.status_code, {name.lower(): value for name, value in response.headers.items()})


def _decode(call: Call, response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    body = response.json()
    model = model_for(call.model, body)
    if model is not None and isinstance(body, dict):
        return model(body, response=_info(response))
    return body


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        _core.outcome(Call("GET", ""), response)  # raises the error the answer carries
    return response


class SyncTransport:
    def __init__(self, options: Options, http: httpx.Client, sleep: Callable[[float], None] = time.sleep) -> None:
        self.options = options
        self.http = http
        self.sleep = sleep

    def send(self, call: Call) -> httpx.Response:
        retries = 0
        while True:
            try:
                return _check(
                    self.http.request(
                        call.method,
                        self.options.url(call),
                        params=tuple(call.query) if call.query else None,
                        content=self.options.content(call),
                        headers=self.options.headers(call),
                    )
                )
            except httpx.TransportError as exc:
                error: RoostError = _core.connection_error(exc)
            except RoostError as exc:
                error = exc
            if not self.options.should_retry(call, retries, error):
                raise error
            self.sleep(self.options.retry_delay(retries, error))
            retries += 1

    def request(self, call: Call) -> Any:
        return _decode(call, self.send(call))

    def request_raw(self, call: Call) -> tuple[Any, ResponseInfo]:
        response = self.send(call)
        return (response.json() if response.content else {}), _info(response)

    def paginate(self, call: Call) -> Pager:
        return Pager(self, call)


class AsyncTransport:
    def __init__(self, options: Options, http: httpx.AsyncClient) -> None:
        self.options = options
        self.http = http

    async def send(self, call: Call) -> httpx.Response:
        retries = 0
        while True:
            try:
                return _check(
                    await self.http.request(
                        call.method,
                        self.options.url(call),
                        params=tuple(call.query) if call.query else None,
                        content=self.options.content(call),
                        headers=self.options.headers(call),
                    )
                )
            except httpx.TransportError as exc:
                error: RoostError = _core.connection_error(exc)
            except RoostError as exc:
                error = exc
            if not self.options.should_retry(call, retries, error):
                raise error
            await asyncio.sleep(self.options.retry_delay(retries, error))
            retries += 1

    async def request(self, call: Call) -> Any:
        return _decode(call, await self.send(call))

    async def request_raw(self, call: Call) -> tuple[Any, ResponseInfo]:
        response = await self.send(call)
        return (response.json() if response.content else {}), _info(response)

    def paginate(self, call: Call) -> AsyncPager:
        return AsyncPager(self, call)


# Resources ---------------------------------------------------------------------------------
# With `Roost` each method returns the object; with `AsyncRoost` it returns an awaitable of it.
# List methods return a Pager (AsyncPager): iterate it to walk every page.

SESSIONS = "/v1/organization/embedded-signup/sessions"
PROFILES = "/v1/organization/whatsapp/business-profiles"
PHONE_NUMBERS = "/v1/organization/whatsapp/phone-numbers"
ADMIN_KEYS = "/v1/organization/admin-keys"
SETTINGS = "/v1/organization/settings"
WEBHOOKS = "/v1/organization/webhooks"
EVENTS = "/v1/organization/events"


class _Resource:
    def __init__(self, transport: SyncTransport | AsyncTransport) -> None:
        self._transport = transport

    def _request(self, call: Call) -> Any:
        return self._transport.request(call)

    def _list(self, path: str, model: type, params: Mapping[str, Any]) -> Any:
        return self._transport.paginate(Call("GET", path, encode_query(params), model=model))

    def _key(self, idempotency_key: Any) -> str | None:
        return self._transport.options.idempotency_key(idempotency_key)


class Sessions(_Resource):
    """Embedded signup sessions (SPEC 3)."""

    def create(
        self,
        *,
        redirect_uri: str = NOT_GIVEN,
        state: str = NOT_GIVEN,
        metadata: Mapping[str, Any] = NOT_GIVEN,
        prefill: Mapping[str, Any] = NOT_GIVEN,
        locale: str = NOT_GIVEN,
        coexistence: bool = NOT_GIVEN,
        solution_id: str = NOT_GIVEN,
        idempotency_key: str | None = AUTO,
        extra_body: Mapping[str, Any] | None = None,
    ) -> EmbeddedSignupSession:
        """Create a session; the answer has the one-time `url`. An Idempotency-Key is generated
        unless you pass one (or None to send none); the client's retries reuse it."""
        body = body_of(
            {"redirect_uri": redirect_uri, "state": state, "metadata": metadata, "prefill": prefill,
             "locale": locale, "coexistence": coexistence, "solution_id": solution_id},
            extra_body,
        )
        return self._request(
            Call("POST", SESSIONS, body=body, model=EmbeddedSignupSession, idempotency_key=self._key(idempotency_key))
        )

    def get(self, session_id: str) -> EmbeddedSignupSession:
        return self._request(Call("GET", f"{SESSIONS}/{_segment(session_id, 'session_id')}", model=EmbeddedSignupSession))

    def list(
        self,
        *,
        status: str = NOT_GIVEN,
        source: str = NOT_GIVEN,
        metadata: Mapping[str, Any] = NOT_GIVEN,
        created: Mapping[str, Any] = NOT_GIVEN,
        limit: int = NOT_GIVEN,
        starting_after: str = NOT_GIVEN,
        ending_before: str = NOT_GIVEN,
        **filters: Any,
    ) -> Pager[EmbeddedSignupSession]:
        """Sessions, newest first. `metadata={"externalUserId": "u1"}` sends
        `metadata[externalUserId]=u1`; `created={"gte": datetime | unix seconds | ISO text}`."""
        params = {"status": status, "source": source, "metadata": metadata, "created": created, "limit": limit,
                  "starting_after": starting_after, "ending_before": ending_before, **filters}
        return self._list(SESSIONS, EmbeddedSignupSession, params)

    def cancel(self, session_id: str) -> EmbeddedSignupSession:
        return self._request(Call("DELETE", f"{SESSIONS}/{_segment(session_id, 'session_id')}", model=EmbeddedSignupSession))

    def refresh_link(self, session_id: str) -> EmbeddedSignupSession:
        """A fresh `url` for an unstarted pending session (the old link stops working)."""
        return self._request(
            Call("POST", f"{SESSIONS}/{_segment(session_id, 'session_id')}/link", model=EmbeddedSignupSession)
        )

    def events(self, session_id: str, **params: Any) -> Pager[SessionEvent]:
        """The session's timeline, oldest first."""
        return self._list(f"{SESSIONS}/{_segment(session_id, 'session_id')}/events", SessionEvent, params)

    def simulate(
        self,
        session_id: str,
        *,
        outcome: str,
        variant: str = NOT_GIVEN,
        cancel_step: str = NOT_GIVEN,
        error_code: str = NOT_GIVEN,
        phone_verified: bool = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
    ) -> EmbeddedSignupSession:
        """Test helper (test keys only): play `outcome` ("completed", "cancelled", "signup_error",
        "recovered") through the Meta simulator and return the session in its new state."""
        body = body_of(
            {"outcome": outcome, "variant": variant, "cancel_step": cancel_step, "error_code": error_code,
             "phone_verified": phone_verified},
            extra_body,
        )
        return self._request(
            Call("POST", f"{SESSIONS}/{_segment(session_id, 'session_id')}/simulate", body=body, model=EmbeddedSignupSession)
        )

    def funnel(self, *, created: Mapping[str, Any] = NOT_GIVEN) -> Funnel:
        """Conversion counts of hosted sessions; `created={"gte": ..., "lt": ...}`."""
        query = encode_query({"created": created})
        return self._request(Call("GET", "/v1/organization/embedded-signup/funnel", query, model=Funnel))


class BusinessProfiles(_Resource):
    """Connected WhatsApp Business Accounts (SPEC 5.2, 5.4)."""

    def list(
        self,
        *,
        session_id: str = NOT_GIVEN,
        waba_id: str = NOT_GIVEN,
        status: str = NOT_GIVEN,
        metadata: Mapping[str, Any] = NOT_GIVEN,
        limit: int = NOT_GIVEN,
        starting_after: str = NOT_GIVEN,
        ending_before: str = NOT_GIVEN,
        **filters: Any,
    ) -> Pager[BusinessProfile]:
        params = {"session_id": session_id, "waba_id": waba_id, "status": status, "metadata": metadata,
                  "limit": limit, "starting_after": starting_after, "ending_before": ending_before, **filters}
        return self._list(PROFILES, BusinessProfile, params)

    def get(self, profile_id: str) -> BusinessProfile:
        return self._request(Call("GET", f"{PROFILES}/{_segment(profile_id, 'profile_id')}", model=BusinessProfile))

    def disconnect(self, profile_id: str) -> BusinessProfile:
        """Disconnect (soft delete): Roost unsubscribes its app from the WABA."""
        return self._request(Call("DELETE", f"{PROFILES}/{_segment(profile_id, 'profile_id')}", model=BusinessProfile))

    delete = disconnect

    def refresh(self, profile_id: str) -> BusinessProfile:
        """Read the WABA and its numbers from Meta again (account health): the profile as it is
        now. Only reads at Meta, so a retry is safe."""
        return self._request(Call("POST", f"{PROFILES}/{_segment(profile_id, 'profile_id')}/refresh", model=BusinessProfile))

    def access_token(self, profile_id: str) -> AccessToken:
        """The business token (live keys only, when the organization allows it; each read is audited)."""
        return self._request(
            Call("GET", f"{PROFILES}/{_segment(profile_id, 'profile_id')}/access-token", model=AccessToken)
        )

    def add_phone_number(
        self, profile_id: str, *, cc: str, phone_number: str, verified_name: str, idempotency_key: str | None = AUTO
    ) -> PhoneNumber:
        """Add a number to the profile's WABA (NOT_VERIFIED): then `phone_numbers.request_code`,
        `verify_code` and `register`."""
        body = body_of({"cc": cc, "phone_number": phone_number, "verified_name": verified_name})
        return self._request(
            Call("POST", f"{PROFILES}/{_segment(profile_id, 'profile_id')}/phone-numbers", body=body, model=PhoneNumber,
                 idempotency_key=self._key(idempotency_key))
        )


class PhoneNumbers(_Resource):
    def get(self, phone_number_id: str) -> PhoneNumber:
        return self._request(Call("GET", f"{PHONE_NUMBERS}/{_segment(phone_number_id, 'phone_number_id')}", model=PhoneNumber))

    def register(self, phone_number_id: str, *, pin: str = NOT_GIVEN, data_localization_region: str = NOT_GIVEN) -> PhoneNumber:
        """One registration attempt on the Cloud API (Meta allows 10 per number in 72 h, so this
        POST is never retried after it may have reached the server)."""
        return self._post_on(phone_number_id, "register", {"pin": pin, "data_localization_region": data_localization_region})

    def request_code(self, phone_number_id: str, *, method: str, language: str = NOT_GIVEN) -> PhoneNumber:
        """Have Meta send the number its verification code (`method`: "sms" or "voice"). Not
        retried: each request sends a message, and Meta limits them."""
        return self._post_on(phone_number_id, "request-code", {"method": method, "language": language})

    def verify_code(self, phone_number_id: str, *, code: str) -> PhoneNumber:
        """Check the code the number received: the number comes back VERIFIED. Not retried: Meta
        counts wrong guesses."""
        return self._post_on(phone_number_id, "verify-code", {"code": code})

    def _post_on(self, phone_number_id: str, action: str, body: dict[str, Any]) -> PhoneNumber:
        path = f"{PHONE_NUMBERS}/{_segment(phone_number_id, 'phone_number_id')}/{action}"
        return self._request(Call("POST", path, body=body_of(body), model=PhoneNumber))


class AdminKeys(_Resource):
    def list(self, **params: Any) -> Pager[AdminKey]:
        """The keys of the calling key's mode (never their secrets)."""
        return self._list(ADMIN_KEYS, AdminKey, params)

    def create(self, *, name: str = NOT_GIVEN, idempotency_key: str | None = AUTO) -> AdminKey:
        """A key of the caller's mode; `admin_key` holds the full key, shown this once."""
        return self._request(
            Call("POST", ADMIN_KEYS, body=body_of({"name": name}), model=AdminKey, idempotency_key=self._key(idempotency_key))
        )

    def revoke(self, key_id: str) -> AdminKey:
        return self._request(Call("DELETE", f"{ADMIN_KEYS}/{_segment(key_id, 'key_id')}", model=AdminKey))


class Settings(_Resource):
    """Organization settings, per mode (`mode="test" | "live"`, default: the key's mode)."""

    def get(self, *, mode: str = NOT_GIVEN) -> OrganizationSettings:
        return self._request(Call("GET", SETTINGS, encode_query({"mode": mode}), model=OrganizationSettings))

    def update(
        self,
        *,
        mode: str = NOT_GIVEN,
        name: str = NOT_GIVEN,
        allowed_origins: list[str] = NOT_GIVEN,
        allowed_redirect_uris: list[str] = NOT_GIVEN,
        branding: Mapping[str, Any] = NOT_GIVEN,
        meta: Mapping[str, Any] = NOT_GIVEN,
        messages_callback_url: str | None = NOT_GIVEN,
        auto_claim: bool = NOT_GIVEN,
        token_custody_enabled: bool = NOT_GIVEN,
        coexistence: Mapping[str, Any] = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
    ) -> OrganizationSettings:
        """Change only what you pass; None clears a field (a meta field then falls back to the server's).
        `coexistence={"history_sync": False}`: WhatsApp Business app numbers' chat history is not asked for."""
        body = body_of(
            {"name": name, "allowed_origins": allowed_origins, "allowed_redirect_uris": allowed_redirect_uris,
             "branding": branding, "meta": meta, "messages_callback_url": messages_callback_url,
             "auto_claim": auto_claim, "token_custody_enabled": token_custody_enabled, "coexistence": coexistence},
            extra_body,
        )
        return self._request(Call("PATCH", SETTINGS, encode_query({"mode": mode}), body=body, model=OrganizationSettings))

    def rotate_redirect_secret(self, *, mode: str = NOT_GIVEN) -> OrganizationSettings:
        """A new `redirect_secret` for the mode; the old one stops signing at once."""
        return self._request(
            Call("POST", f"{SETTINGS}/redirect-secret/rotate", encode_query({"mode": mode}), model=OrganizationSettings)
        )


class WebhookEndpoints(_Resource):
    """Where Roost sends signed events (SPEC 7.1)."""

    def create(
        self,
        *,
        url: str,
        events: Sequence[str],
        description: str = NOT_GIVEN,
        enabled: bool = NOT_GIVEN,
        idempotency_key: str | None = AUTO,
        extra_body: Mapping[str, Any] | None = None,
    ) -> WebhookEndpoint:
        """The answer carries the endpoint's `secret` (whsec_…), shown this once."""
        body = body_of({"url": url, "events": events, "description": description, "enabled": enabled}, extra_body)
        return self._request(
            Call("POST", WEBHOOKS, body=body, model=WebhookEndpoint, idempotency_key=self._key(idempotency_key))
        )

    def list(self, *, limit: int = NOT_GIVEN, starting_after: str = NOT_GIVEN, ending_before: str = NOT_GIVEN,
             **filters: Any) -> Pager[WebhookEndpoint]:
        params = {"limit": limit, "starting_after": starting_after, "ending_before": ending_before, **filters}
        return self._list(WEBHOOKS, WebhookEndpoint, params)

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        return self._request(Call("GET", f"{WEBHOOKS}/{_segment(endpoint_id, 'endpoint_id')}", model=WebhookEndpoint))

    def update(
        self,
        endpoint_id: str,
        *,
        url: str = NOT_GIVEN,
        events: Sequence[str] = NOT_GIVEN,
        description: str | None = NOT_GIVEN,
        enabled: bool = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
    ) -> WebhookEndpoint:
        body = body_of({"url": url, "events": events, "description": description, "enabled": enabled}, extra_body)
        return self._request(
            Call("PATCH", f"{WEBHOOKS}/{_segment(endpoint_id, 'endpoint_id')}", body=body, model=WebhookEndpoint)
        )

    def delete(self, endpoint_id: str) -> DeletedObject:
        """Delete the endpoint: `{id, object, deleted: true}`."""
        return self._request(Call("DELETE", f"{WEBHOOKS}/{_segment(endpoint_id, 'endpoint_id')}", model=DeletedObject))

    def rotate_secret(self, endpoint_id: str) -> WebhookEndpoint:
        """A new secret; the old one stays valid for 24 hours."""
        return self._request(
            Call("POST", f"{WEBHOOKS}/{_segment(endpoint_id, 'endpoint_id')}/rotate-secret", model=WebhookEndpoint)
        )

    def send_test_event(self, endpoint_id: str) -> EndpointTest:
        """Queue one `webhook_endpoint.test` event to this endpoint only, signed like any other."""
        return self._request(
            Call("POST", f"{WEBHOOKS}/{_segment(endpoint_id, 'endpoint_id')}/test", model=EndpointTest)
        )

    def deliveries(self, endpoint_id: str, *, event_id: str = NOT_GIVEN, limit: int = NOT_GIVEN,
                   starting_after: str = NOT_GIVEN, ending_before: str = NOT_GIVEN,
                   **filters: Any) -> Pager[WebhookDeliveryAttempt]:
        """Every HTTP request Roost made to this endpoint, newest first (filter: `event_id`)."""
        params = {"event_id": event_id, "limit": limit, "starting_after": starting_after,
                  "ending_before": ending_before, **filters}
        return self._list(f"{WEBHOOKS}/{_segment(endpoint_id, 'endpoint_id')}/deliveries", WebhookDeliveryAttempt, params)


class Events(_Resource):
    """Events sent to webhook endpoints (SPEC 7.1)."""

    def list(self, *, type: str = NOT_GIVEN, limit: int = NOT_GIVEN, starting_after: str = NOT_GIVEN,
             ending_before: str = NOT_GIVEN, **filters: Any) -> Pager[Event]:
        """Events, newest first (filter: `type`, one event type)."""
        params = {"type": type, "limit": limit, "starting_after": starting_after, "ending_before": ending_before,
                  **filters}
        return self._list(EVENTS, Event, params)

    def get(self, event_id: str) -> Event:
        return self._request(Call("GET", f"{EVENTS}/{_segment(event_id, 'event_id')}", model=Event))

    def resend(self, event_id: str, *, endpoint_id: str = NOT_GIVEN) -> EventResend:
        """Queue the event again (same webhook-id) to `endpoint_id`, or to every enabled endpoint
        subscribed to its type; returns the new deliveries."""
        return self._request(
            Call("POST", f"{EVENTS}/{_segment(event_id, 'event_id')}/resend", body=body_of({"endpoint_id": endpoint_id}),
                 model=EventResend)
        )


class Recovery(_Resource):
    """The platform-run popup flow and recovery (SPEC 5.3): for platforms that call FB.login on
    their own page."""

    def start_attempt(
        self, *, metadata: Mapping[str, Any] = NOT_GIVEN, idempotency_key: str | None = AUTO,
        extra_body: Mapping[str, Any] | None = None,
    ) -> RecoveryAttempt:
        return self._request(
            Call("POST", f"{PROFILES}/start-attempt", body=body_of({"metadata": metadata}, extra_body),
                 model=RecoveryAttempt, idempotency_key=self._key(idempotency_key))
        )

    def callback(
        self,
        *,
        attempt_id: str,
        code: str,
        waba_id: str = NOT_GIVEN,
        phone_number_id: str = NOT_GIVEN,
        business_id: str = NOT_GIVEN,
        coexistence: bool = NOT_GIVEN,
        redirect_uri: str = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
    ) -> BusinessProfile | EmbeddedSignupSession:
        """Hand Meta's code over at once (it lives about 30 seconds). Returns the business profile,
        or (answer 202) the session while a provisioning step backs off: poll `sessions.get`."""
        body = body_of(
            {"attempt_id": attempt_id, "code": code, "waba_id": waba_id, "phone_number_id": phone_number_id,
             "business_id": business_id, "coexistence": coexistence, "redirect_uri": redirect_uri},
            extra_body,
        )
        return self._request(Call("POST", f"{PROFILES}/callback", body=body, model=BusinessProfile))

    def mark_interrupted(
        self, *, attempt_id: str, waba_id: str, business_id: str = NOT_GIVEN,
        extra_body: Mapping[str, Any] | None = None,
    ) -> EmbeddedSignupSession:
        """The user finished Meta's flow but the code was lost: the attempt becomes `recovered`."""
        body = body_of({"attempt_id": attempt_id, "waba_id": waba_id, "business_id": business_id}, extra_body)
        return self._request(Call("POST", f"{PROFILES}/mark-interrupted", body=body, model=EmbeddedSignupSession))

    def recovered_attempts(self, *, metadata: Mapping[str, Any] = NOT_GIVEN, limit: int = NOT_GIVEN,
                           starting_after: str = NOT_GIVEN, ending_before: str = NOT_GIVEN,
                           **filters: Any) -> Pager[RecoveredAttempt]:
        params = {"metadata": metadata, "limit": limit, "starting_after": starting_after,
                  "ending_before": ending_before, **filters}
        return self._list(f"{PROFILES}/recovered-attempts", RecoveredAttempt, params)

    def claim(self, *, attempt_id: str, extra_body: Mapping[str, Any] | None = None) -> BusinessProfile | EmbeddedSignupSession:
        """Turn a `recovered` attempt into a connected business profile (409 session_not_recovered
        otherwise); the session (answer 202) while a step backs off."""
        return self._request(
            Call("POST", f"{PROFILES}/claim", body=body_of({"attempt_id": attempt_id}, extra_body), model=BusinessProfile)
        )


class AuditLog(_Resource):
    def list(self, *, action: str = NOT_GIVEN, resource_id: str = NOT_GIVEN, limit: int = NOT_GIVEN,
             starting_after: str = NOT_GIVEN, ending_before: str = NOT_GIVEN, **filters: Any) -> Pager[AuditLogEntry]:
        """Sensitive actions of admin keys (token reads, …), newest first, in the key's mode."""
        params = {"action": action, "resource_id": resource_id, "limit": limit, "starting_after": starting_after,
                  "ending_before": ending_before, **filters}
        return self._list("/v1/organization/audit-log", AuditLogEntry, params)


# Clients -----------------------------------------------------------------------------------


def _options(
    api_key: str | None,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    max_retry_after: float,
    initial_retry_delay: float,
    max_retry_delay: float,
    auto_idempotency: bool,
    default_headers: Mapping[str, str] | None,
) -> Options:
    api_key = api_key or os.environ.get("ROOST_API_KEY")
    if not api_key:
        raise ValueError("An admin key is required: Roost(api_key='sk_admin_test_…') or ROOST_API_KEY")
    if max_retries < 0:
        raise ValueError("max_retries must be 0 or more")
    return Options(
        api_key=api_key,
        base_url=base_url or os.environ.get("ROOST_BASE_URL") or _core.DEFAULT_BASE_URL,
        timeout=timeout,
        max_retries=max_retries,
        initial_retry_delay=initial_retry_delay,
        max_retry_delay=max_retry_delay,
        max_retry_after=max_retry_after,
        auto_idempotency=auto_idempotency,
        default_headers=dict(default_headers or {}),
    )


class _Namespaces:
    def _mount(self, transport: SyncTransport | AsyncTransport) -> None:
        self.sessions = Sessions(transport)
        self.business_profiles = BusinessProfiles(transport)
        self.phone_numbers = PhoneNumbers(transport)
        self.admin_keys = AdminKeys(transport)
        self.settings = Settings(transport)
        self.webhook_endpoints = WebhookEndpoints(transport)
        self.events = Events(transport)
        self.recovery = Recovery(transport)
        self.audit_log = AuditLog(transport)


class Roost(_Namespaces):
    """The synchronous client.

        client = Roost("sk_admin_test_…", base_url="https://roost.example.com")
        session = client.sessions.create(metadata={"externalUserId": "u1"})

    Retries (network errors, 5xx, 429 with Retry-After) up to `max_retries` times with
    exponential back-off and jitter; POSTs without an Idempotency-Key are only retried when the
    server cannot have acted (connection refused, 429)."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        max_retry_after: float = 30.0,
        initial_retry_delay: float = 0.5,
        max_retry_delay: float = 8.0,
        auto_idempotency: bool = True,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._options = _options(api_key, base_url, timeout, max_retries, max_retry_after, initial_retry_delay,
                                 max_retry_delay, auto_idempotency, default_headers)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._mount(SyncTransport(self._options, self._http))

    @property
    def base_url(self) -> str:
        return self._options.base_url

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> "Roost":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRoost(_Namespaces):
    """The asynchronous client: the same resources, each method awaitable; lists are
    `async for`-iterable pagers.

        async with AsyncRoost("sk_admin_test_…", base_url=...) as client:
            session = await client.sessions.create()
            async for s in client.sessions.list(status="pending"): ...

    The resources share their code with `Roost`, whose annotations describe sync results, so
    here they are typed loosely (Any) rather than wrongly."""

    sessions: Any
    business_profiles: Any
    phone_numbers: Any
    admin_keys: Any
    settings: Any
    webhook_endpoints: Any
    events: Any
    recovery: Any
    audit_log: Any

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        max_retry_after: float = 30.0,
        initial_retry_delay: float = 0.5,
        max_retry_delay: float = 8.0,
        auto_idempotency: bool = True,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._options = _options(api_key, base_url, timeout, max_retries, max_retry_after, initial_retry_delay,
                                 max_retry_delay, auto_idempotency, default_headers)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._mount(AsyncTransport(self._options, self._http))

    @property
    def base_url(self) -> str:
        return self._options.base_url

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncRoost":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
