"""Meta's Graph API, as Roost uses it: one async client, Meta's error envelope as MetaError.

Retries happen only where they are safe: reads (GET) on transient errors, and any request
that never reached Meta (connection refused). A code exchange or a phone registration that
may have reached Meta is never repeated blindly — the code is single-use, and Meta counts
registration attempts (10 per 72 hours).
"""

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from roost.kit.network import AddressNotAllowed
from roost.meta.nodes import BusinessPhoneNumber, WabaHealth, WhatsAppBusinessAccount

log = structlog.get_logger("roost.meta")

RETRY_DELAYS = (0.2, 1.0)
PHONE_NUMBERS_PAGE = 100  # the most Graph API list edges give at once
MAX_PHONE_NUMBER_PAGES = 50  # a bound on a paging loop, far above any WABA's numbers
# Graph error codes Meta documents as temporary (service unavailable, rate limits, 5xx kin).
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131000, 133004})


class MetaError(Exception):
    """Meta answered with its error envelope (or did not answer at all)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None,
        subcode: int | None = None,
        fbtrace_id: str | None = None,
        http_status: int | None = None,
        transient: bool = False,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.fbtrace_id = fbtrace_id
        self.http_status = http_status
        self.transient = transient
        self.error_type = error_type

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "subcode": self.subcode, "message": self.message, "fbtrace_id": self.fbtrace_id}

    @classmethod
    def from_response(cls, response: httpx.Response) -> "MetaError":
        try:
            error = response.json().get("error") or {}
        except ValueError:
            error = {}
        code = error.get("code")
        if isinstance(error.get("is_transient"), bool):
            transient = error["is_transient"]  # Meta's own word wins
        else:
            transient = code in TRANSIENT_CODES or response.status_code >= 500
        return cls(
            error.get("message") or f"Meta answered HTTP {response.status_code}",
            code=code,
            subcode=error.get("error_subcode"),
            fbtrace_id=error.get("fbtrace_id"),
            http_status=response.status_code,
            transient=transient,
            error_type=error.get("type"),
        )

    @classmethod
    def unreachable(cls, problem: Exception) -> "MetaError":
        return cls(f"Meta could not be reached: {type(problem).__name__}", code=None, transient=True)


@dataclass(frozen=True)
class Granted:
    """What a business token may reach, from debug_token's granular scopes."""

    waba_ids: list[str]
    business_ids: list[str]
    is_valid: bool


class GraphClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, version: str, app_id: str, app_secret: str) -> None:
        self._http = http
        self._base = f"{base_url.rstrip('/')}/{version}"
        self._app_id = app_id
        self._app_secret = app_secret

    @property
    def app_token(self) -> str:
        return f"{self._app_id}|{self._app_secret}"

    def appsecret_proof(self, token: str) -> str:
        return hmac.new(self._app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        retry_transient: bool,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, f"{self._base}/{path}", params=params, json=json, headers=headers)
            except AddressNotAllowed as problem:  # the organization's graph_url: not retried, a setting
                error = MetaError(f"Meta could not be reached: {problem}", code=None, transient=False)
                retry = False
            except httpx.ConnectError as problem:  # never reached Meta: always safe to retry
                error = MetaError.unreachable(problem)
                retry = True
            except httpx.HTTPError as problem:  # may have reached Meta
                error = MetaError.unreachable(problem)
                retry = retry_transient
            else:
                if response.status_code < 400:
                    return response.json()
                error = MetaError.from_response(response)
                retry = retry_transient and error.transient
            if not retry or attempt >= len(RETRY_DELAYS):
                log.info("meta_call_failed", method=method, path=path.split("?")[0], code=error.code, fbtrace_id=error.fbtrace_id)
                raise error
            await asyncio.sleep(RETRY_DELAYS[attempt])
            attempt += 1

    # -- the calls of Embedded Signup -------------------------------------------------------

    async def exchange_code(self, code: str, redirect_uri: str | None = None) -> str:
        """GET oauth/access_token: Meta's 30-second, single-use code -> the business token.

        `redirect_uri` only for a code from a redirect-based OAuth dialog (it must match)."""
        params = {"client_id": self._app_id, "client_secret": self._app_secret, "code": code}
        if redirect_uri is not None:
            params["redirect_uri"] = redirect_uri
        body = await self._call("GET", "oauth/access_token", params=params, retry_transient=False)
        return body["access_token"]

    async def inspect_token(self, input_token: str, inspector_token: str | None = None) -> dict[str, Any]:
        """GET debug_token: what Meta says about a token (`data`: is_valid, app_id, type,
        expires_at, scopes, granular_scopes, or error), asked with the app token by default."""
        body = await self._call(
            "GET",
            "debug_token",
            token=inspector_token or self.app_token,
            params={"input_token": input_token},
            retry_transient=True,
        )
        return body.get("data") or {}

    async def app_subscriptions(self) -> list[dict[str, Any]]:
        """GET {app_id}/subscriptions: the app's webhook subscriptions (object, callback_url,
        active, fields)."""
        body = await self._call("GET", f"{self._app_id}/subscriptions", token=self.app_token, retry_transient=True)
        return list(body.get("data") or [])

    async def debug_token(self, business_token: str, inspector_token: str | None = None) -> Granted:
        data = await self.inspect_token(business_token, inspector_token)
        wabas: list[str] = []
        businesses: list[str] = []
        for grant in data.get("granular_scopes") or []:
            targets = [str(target) for target in grant.get("target_ids") or []]
            if grant.get("scope", "").startswith("whatsapp_business_manage"):
                wabas.extend(target for target in targets if target not in wabas)
            elif grant.get("scope") == "business_management":
                businesses.extend(targets)
        return Granted(waba_ids=wabas, business_ids=businesses, is_valid=bool(data.get("is_valid")))

    async def waba(self, waba_id: str, token: str) -> WhatsAppBusinessAccount:
        body = await self._call(
            "GET", waba_id, token=token, params={"fields": WhatsAppBusinessAccount.graph_fields()}, retry_transient=True
        )
        return WhatsAppBusinessAccount.from_graph(body)

    async def waba_health(self, waba_id: str, token: str) -> WabaHealth:
        """GET /{waba}: its review status and messaging health (account health's refresh)."""
        body = await self._call("GET", waba_id, token=token, params={"fields": WabaHealth.graph_fields()}, retry_transient=True)
        return WabaHealth.from_graph(body)

    async def phone_numbers(self, waba_id: str, token: str) -> list[BusinessPhoneNumber]:
        """Every number of the WABA: Meta pages the list (25 by default), so follow its cursors."""
        numbers: list[BusinessPhoneNumber] = []
        params: dict[str, Any] = {"fields": BusinessPhoneNumber.graph_fields(), "limit": PHONE_NUMBERS_PAGE}
        for _ in range(MAX_PHONE_NUMBER_PAGES):
            body = await self._call("GET", f"{waba_id}/phone_numbers", token=token, params=params, retry_transient=True)
            numbers += [BusinessPhoneNumber.from_graph(item) for item in body.get("data") or []]
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                break
            params = {**params, "after": after}
        return numbers

    async def phone_number(self, phone_number_id: str, token: str) -> BusinessPhoneNumber:
        body = await self._call(
            "GET", phone_number_id, token=token, params={"fields": BusinessPhoneNumber.graph_fields()}, retry_transient=True
        )
        return BusinessPhoneNumber.from_graph(body)

    async def subscribe_app(self, waba_id: str, token: str) -> None:
        # Subscribing again is harmless, so a transient failure may be retried.
        await self._call("POST", f"{waba_id}/subscribed_apps", token=token, retry_transient=True)

    async def override_callback(self, waba_id: str, token: str, callback_url: str, verify_token: str) -> None:
        await self._call(
            "POST",
            f"{waba_id}/subscribed_apps",
            token=token,
            json={"override_callback_uri": callback_url, "verify_token": verify_token},
            retry_transient=True,
        )

    async def unsubscribe_app(self, waba_id: str, token: str) -> None:
        await self._call("DELETE", f"{waba_id}/subscribed_apps", token=token, retry_transient=True)

    async def share_credit_line(self, credit_line_id: str, waba_id: str, system_user_token: str, currency: str = "USD") -> dict[str, Any]:
        return await self._call(
            "POST",
            f"{credit_line_id}/whatsapp_credit_sharing_and_attach",
            token=system_user_token,
            params={"waba_currency": currency, "waba_id": waba_id},
            retry_transient=False,
        )

    async def register_phone(self, phone_number_id: str, pin: str, token: str, data_localization_region: str | None = None) -> None:
        body = {"messaging_product": "whatsapp", "pin": pin}
        if data_localization_region is not None:
            body["data_localization_region"] = data_localization_region
        await self._call("POST", f"{phone_number_id}/register", token=token, json=body, retry_transient=False)

    # -- numbers after signup -----------------------------------------------------------------
    # Never retried on a transient error: a number added twice is refused as taken, and each code
    # request sends an SMS or a call (Meta rate-limits them) and each check counts as a guess.

    async def add_phone_number(self, waba_id: str, cc: str, phone_number: str, verified_name: str, token: str) -> str:
        """POST {waba}/phone_numbers: the new number's id (it is NOT_VERIFIED until verify_code)."""
        body = await self._call(
            "POST",
            f"{waba_id}/phone_numbers",
            token=token,
            json={"cc": cc, "phone_number": phone_number, "verified_name": verified_name},
            retry_transient=False,
        )
        return str(body["id"])

    async def request_code(self, phone_number_id: str, code_method: str, language: str, token: str) -> None:
        """POST {phone}/request_code: Meta sends a code to the number by SMS or voice call."""
        await self._call(
            "POST",
            f"{phone_number_id}/request_code",
            token=token,
            json={"code_method": code_method, "language": language},
            retry_transient=False,
        )

    async def verify_code(self, phone_number_id: str, code: str, token: str) -> None:
        """POST {phone}/verify_code: the number is VERIFIED if the code is right."""
        await self._call("POST", f"{phone_number_id}/verify_code", token=token, json={"code": code}, retry_transient=False)

    async def business_token_for(self, business_id: str, system_user_token: str) -> str:
        """The customer's business token fetched with the partner's system user (recovery)."""
        body = await self._call(
            "POST",
            f"{business_id}/system_user_access_tokens",
            token=system_user_token,
            params={"fetch_only": "true", "appsecret_proof": self.appsecret_proof(system_user_token)},
            retry_transient=True,
        )
        return body["access_token"]

    # -- coexistence ------------------------------------------------------------------------------

    async def request_sync(self, phone_number_id: str, sync_type: str, token: str) -> str | None:
        """POST {phone}/smb_app_data: Meta starts a WhatsApp Business app number's contacts sync
        (`smb_app_state_sync`) or chat history sync (`history`), once each; Meta's request id.
        Not retried here: the caller's durable task retries, and reads a repeat's 2593107."""
        body = await self._call(
            "POST",
            f"{phone_number_id}/smb_app_data",
            token=token,
            json={"messaging_product": "whatsapp", "sync_type": sync_type},
            retry_transient=False,
        )
        request_id = body.get("request_id")
        return str(request_id)[:64] if request_id is not None else None
