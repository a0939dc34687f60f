"""The simulated Graph API: `/graph/{version}/…`, the calls Roost makes, with Meta's error envelope.

One catch-all route parses the path the way Graph does (a version, an object id, an edge),
authenticates the access token, applies any injected fault for the call, then the rules.
"""

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import select

from roost.kit.crypto import constant_time_equal
from roost.kit.timeutil import now_ms
from roost.simulator import errors as graph_errors
from roost.simulator import coexistence, fields, numbers, service
from roost.simulator.errors import GraphError
from roost.simulator.models import SimApp, SimBusiness, SimPhoneNumber, SimWaba, SimWabaShare
from roost.simulator.service import GraphCaller, Simulator
from roost.kit.network import AddressNotAllowed

log = structlog.get_logger("roost.simulator")

router = APIRouter()

VERSION = re.compile(r"^v[0-9]+\.[0-9]+$")
MAX_BODY = 256 * 1024
OVERRIDE_MAX_LENGTH = 200
CREDIT_CURRENCIES = ("USD", "EUR", "GBP", "IDR", "INR", "AUD")


class _Answer(Exception):
    """Carries a ready response out of the handler (an `http_error` fault)."""

    def __init__(self, response: Response) -> None:
        self.response = response


@router.api_route("/graph/{path:path}", methods=["GET", "POST", "DELETE"], include_in_schema=False)
async def graph(request: Request, path: str) -> Response:
    try:
        return JSONResponse(await _dispatch(request, path))
    except GraphError as problem:
        return problem.response()
    except _Answer as answer:
        return answer.response
    except Exception:  # noqa: BLE001 - Meta answers its own outages with code 1, never a stack trace
        log.exception("simulator_graph_error", path=path)
        return GraphError(1, "An unknown error occurred", transient=True).response()


# -- request parsing ---------------------------------------------------------------------------


async def _params(request: Request) -> dict[str, Any]:
    """Query parameters and the body (JSON or form), merged as Graph does."""
    params: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise graph_errors.invalid_parameter("The request body is too large")
    if raw.strip():
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                raise graph_errors.invalid_parameter("The request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise graph_errors.invalid_parameter("The request body must be a JSON object")
            params.update(body)
        else:
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _token(request: Request, params: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization", "").strip()
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    token = params.get("access_token")
    return str(token) if token else None


def _sim(request: Request) -> Simulator:
    return request.app.state.simulator


def _client(request: Request) -> httpx.AsyncClient:
    return request.app.state.webhook_client


# -- authentication and faults ------------------------------------------------------------------


async def _caller(request: Request, params: dict[str, Any]) -> GraphCaller:
    token = _token(request, params)
    if not token:
        raise GraphError(104, "An access token is required to request this resource.")
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        caller = await service.resolve_token(db, sim.keyring, token)
    proof = params.get("appsecret_proof")
    if proof is not None and not _proof_ok(sim, caller, str(proof)):
        raise graph_errors.invalid_appsecret_proof()
    return caller


def _proof_ok(sim: Simulator, caller: GraphCaller, proof: str) -> bool:
    expected = service.appsecret_proof(caller.token, sim.app(caller.app_id).app_secret)
    return constant_time_equal(proof.lower(), expected)


async def _fault(request: Request, app_id: str, call: str) -> None:
    await _apply_fault(await service.take_fault(_sim(request).sessions, app_id, call))


async def _apply_fault(fault: Any) -> None:
    if fault is None:
        return
    if fault.kind == "latency":
        await service.apply_latency(fault)
    elif fault.kind == "http_error":
        status = fault.status or 503
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        raise _Answer(PlainTextResponse(fault.message or phrase, status_code=status))
    elif fault.kind == "graph_error":
        raise service.graph_error_of(fault)


# -- routing -----------------------------------------------------------------------------------


Handler = Callable[[Request, str, dict[str, Any], str], Awaitable[dict[str, Any]]]


async def _dispatch(request: Request, path: str) -> dict[str, Any]:
    segments = [segment for segment in path.split("/") if segment]
    version = None
    if segments and VERSION.fullmatch(segments[0]):
        version = segments.pop(0)
    elif segments and re.match(r"^v[0-9]", segments[0]):
        raise GraphError(2500, f"Unknown path components: /{segments[0]}")
    params = await _params(request)
    method = request.method
    request.state.graph_version = version or service.SIMULATED_GRAPH_VERSION

    if segments == ["oauth", "access_token"] and method in ("GET", "POST"):
        return await _oauth_access_token(request, params)
    if segments == ["debug_token"] and method == "GET":
        return await _debug_token(request, params)
    if not segments:
        raise GraphError(100, f"Unsupported {method.lower()} request.")
    object_id = segments[0]
    if not re.fullmatch(r"[0-9]{1,32}", object_id):
        raise GraphError(803, f"(#803) Some of the aliases you requested do not exist: {object_id}")
    if len(segments) == 1:
        if method != "GET":
            raise graph_errors.unknown_object(object_id, method.lower())
        return await _node(request, object_id, params)
    if len(segments) > 2:
        raise GraphError(2500, f"Unknown path components: /{'/'.join(segments[1:])}")
    handler = EDGES.get((segments[1], method))
    if handler is None:
        if any(edge == segments[1] for edge, _ in EDGES):
            raise graph_errors.unknown_object(object_id, method.lower())
        raise GraphError(2500, f"Unknown path components: /{segments[1]}")
    if method != "GET":
        taken = WRITE_PARAMETERS[(segments[1], method)] | COMMON_PARAMETERS
        unknown = next((name for name in params if name not in taken), None)
        if unknown is not None:
            raise graph_errors.unknown_parameter(unknown)
    return await handler(request, object_id, params, method)


# -- oauth/access_token and debug_token -----------------------------------------------------------


async def _oauth_access_token(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    sim = _sim(request)
    client_id = str(params.get("client_id") or "")
    if not client_id:
        raise GraphError(101, "Missing client_id parameter.")
    if service.is_app_id(client_id):
        try:
            await _fault(request, client_id, "oauth/access_token")
        except GraphError:
            # Meta's refusal of an exchange is final: the code is spent, as if it had been used.
            await service.spend_code(sim.sessions, client_id, str(params.get("code") or ""))
            raise
    redirect_uri = params.get("redirect_uri")
    async with sim.sessions() as db, db.begin():
        return await service.exchange_code(
            sim,
            db,
            client_id=client_id,
            client_secret=str(params.get("client_secret") or ""),
            code=str(params.get("code") or ""),
            redirect_uri=str(redirect_uri) if redirect_uri is not None else None,
        )


async def _debug_token(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    caller = await _caller(request, params)
    await _fault(request, caller.app_id, "debug_token")
    if caller.kind == "business":
        raise GraphError(
            100, "(#100) You must provide an app access token, or a user access token that is an owner or developer of the app"
        )
    input_token = params.get("input_token")
    if not input_token:
        raise graph_errors.missing_parameter("input_token")
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        return await service.debug_token(sim, db, caller, str(input_token))


# -- nodes: a phone number or a WABA ---------------------------------------------------------------


async def _node(request: Request, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
    caller = await _caller(request, params)
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        is_phone = await db.get(SimPhoneNumber, object_id) is not None
        is_waba = not is_phone and await db.get(SimWaba, object_id) is not None
    if not (is_phone or is_waba):
        raise graph_errors.unknown_object(object_id)
    await _fault(request, caller.app_id, "phone_number" if is_phone else "waba")
    async with sim.sessions() as db, db.begin():
        if is_phone:
            phone = await db.get(SimPhoneNumber, object_id)
            assert phone is not None
            await service.waba_for(db, caller, phone.waba_id)
            config = await _webhook_configuration(db, sim, caller.app_id, phone.waba_id)
            return fields.select(_phone_fields(phone, config), fields.PHONE_NUMBER, params.get("fields"))
        waba = await service.waba_for(db, caller, object_id)
        assert waba is not None
        business = await db.get(SimBusiness, waba.business_id)
        share = await db.get(SimWabaShare, (waba.id, caller.app_id))
        config = await _webhook_configuration(db, sim, caller.app_id, waba.id)
        phones = [_phone_fields(phone, config) for phone in await _phones_of(db, waba.id)]
        available = {
            **service.waba_object(waba, business),
            "primary_funding_id": share.allocation_config_id if share is not None else None,
            "health_status": service.health_status(waba, business, caller.app_id, now_ms()),
            "phone_numbers": fields.Connection(phones, fields.PHONE_NUMBER_IN_LIST, f"{_graph_url(request)}/{waba.id}/phone_numbers"),
        }
        return fields.select(available, fields.WABA, params.get("fields"))


def _graph_url(request: Request) -> str:
    """This Graph API's base URL with the request's version (`…/graph/v25.0`)."""
    base = _url_of(request)
    return base[: base.index("/graph/") + len("/graph/")] + request.state.graph_version


def _url_of(request: Request) -> str:
    """The request's URL without its query: where `paging.next` and `previous` lead."""
    return str(request.url).split("?")[0]


def _phone_fields(phone: SimPhoneNumber, webhook_configuration: dict[str, str]) -> dict[str, Any]:
    """Every field the simulator serves on a phone number, its defaults among them."""
    extra = {name: compute(phone) for name, compute in service.PHONE_EXTRA_FIELDS.items()}
    return {**service.phone_object(phone), **extra, "webhook_configuration": webhook_configuration}


async def _webhook_configuration(db: Any, sim: Simulator, app_id: str, waba_id: str) -> dict[str, str]:
    """Where the caller's app gets this number's webhooks: its own callback, and the WABA's
    override when one is set (research §4.3)."""
    app = await service.ensure_app(db, sim.keyring, app_id)
    configuration = {"application": service.subscription_of(sim, app)["callback_url"]}
    share = await db.get(SimWabaShare, (waba_id, app_id))
    if share is not None and share.override_callback_uri:
        configuration["whatsapp_business_account"] = share.override_callback_uri
    return configuration


async def _phones_of(db: Any, waba_id: str) -> list[SimPhoneNumber]:
    """The WABA's numbers, the most recently onboarded first (Meta's default order)."""
    return list(
        await db.scalars(
            select(SimPhoneNumber)
            .where(SimPhoneNumber.waba_id == waba_id)
            .order_by(SimPhoneNumber.onboarded_at.desc(), SimPhoneNumber.id.desc())
        )
    )


async def _waba_or_unknown(db: Any, caller: GraphCaller, waba_id: str, method: str = "get") -> SimWaba:
    waba = await service.waba_for(db, caller, waba_id)
    if waba is None:
        raise graph_errors.unknown_object(waba_id, method)
    return waba


async def _phone_numbers(request: Request, waba_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    caller = await _caller(request, params)
    await _fault(request, caller.app_id, "phone_numbers")
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        waba = await _waba_or_unknown(db, caller, waba_id)
        config = await _webhook_configuration(db, sim, caller.app_id, waba.id)
        available = [_phone_fields(phone, config) for phone in await _phones_of(db, waba.id)]
    selection = fields.parse(str(params["fields"])) if params.get("fields") else None
    items = [fields.answer(item, fields.PHONE_NUMBER_IN_LIST, selection) for item in available]
    return fields.page(items, _url_of(request), dict(request.query_params))


# -- subscribed_apps ---------------------------------------------------------------------------------


async def _subscribed_apps(request: Request, waba_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    caller = await _caller(request, params)
    await _fault(request, caller.app_id, "subscribed_apps")
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        waba = await _waba_or_unknown(db, caller, waba_id, method.lower())
        if method == "GET":
            shares = await db.scalars(
                select(SimWabaShare)
                .where(SimWabaShare.waba_id == waba.id, SimWabaShare.subscribed.is_(True))
                .order_by(SimWabaShare.shared_at.desc())
            )
            data = []
            for share in shares:
                item: dict[str, Any] = {
                    "whatsapp_business_api_data": {
                        "id": share.app_id,
                        "link": f"https://www.facebook.com/games/?app_id={share.app_id}",
                        "name": service.APP_NAME,
                    }
                }
                if share.override_callback_uri:
                    item["override_callback_uri"] = share.override_callback_uri
                data.append(item)
            return {"data": data}
        share = await db.get(SimWabaShare, (waba.id, caller.app_id))
        assert share is not None
        if method == "DELETE":
            share.subscribed = False
            share.override_callback_uri = None
            share.override_verify_token = None
            return {"success": True}
        override = params.get("override_callback_uri")
        if override is None:
            # A plain POST subscribes the app; it also removes an override set before (research §4.3).
            share.subscribed = True
            share.override_callback_uri = None
            share.override_verify_token = None
            return {"success": True}
        if not share.subscribed:
            raise GraphError(
                100,
                "(#100) Before override the current callback uri, your app must be subscribed to receive messages "
                "for WhatsApp Business Account",
            )
        override = str(override)
        verify_token = params.get("verify_token")
        if len(override) > OVERRIDE_MAX_LENGTH:
            raise graph_errors.invalid_parameter(
                f"Param override_callback_uri must be at most {OVERRIDE_MAX_LENGTH} characters long"
            )
        if not _is_web_url(override):
            raise graph_errors.invalid_parameter("Param override_callback_uri must be a valid URL")
        if not verify_token:
            raise graph_errors.missing_parameter("verify_token")
    # The handshake runs with no transaction open: the callback may be this very server.
    await verify_callback(_client(request), override, str(verify_token))
    async with sim.sessions() as db, db.begin():
        share = await db.get(SimWabaShare, (waba_id, caller.app_id))
        if share is None or not share.subscribed:
            raise GraphError(
                100,
                "(#100) Before override the current callback uri, your app must be subscribed to receive messages "
                "for WhatsApp Business Account",
            )
        share.override_callback_uri = override
        share.override_verify_token = str(verify_token)
    return {"success": True}


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
        httpx.URL(value)
    except (ValueError, httpx.InvalidURL):
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


async def verify_callback(client: httpx.AsyncClient, url: str, verify_token: str) -> None:
    """Meta's handshake: GET url?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…, which must
    answer 200 with the challenge as its body.

    The client only reaches public addresses (and Roost's own URL), and nothing the callback
    answers is repeated in the error: the caller learns whether the handshake passed, never what
    some address behind the server said."""
    challenge = str(secrets.randbelow(9 * 10**9) + 10**9)
    failed = "(#2200) Callback verification failed with the following errors: "
    query = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token}
    try:
        response = await client.get(url, params=query, follow_redirects=False, timeout=10)
    except AddressNotAllowed:
        raise GraphError(
            2200, f"{failed}curl_errno = 7; curl_error = The callback URL is not a public address; HTTP Status Code = 0"
        ) from None
    except httpx.HTTPError as problem:
        raise GraphError(2200, f"{failed}curl_errno = 7; curl_error = {type(problem).__name__}; HTTP Status Code = 0") from None
    if response.status_code != 200:
        raise GraphError(
            2200, f"{failed}HTTP Status Code = {response.status_code}; HTTP Message = {response.reason_phrase}"
        )
    if response.text.strip() != challenge:
        raise GraphError(2200, f"{failed}The URL couldn't be validated. Response does not match challenge")


# -- register -------------------------------------------------------------------------------------------


async def _register(request: Request, phone_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    caller = await _caller(request, params)
    await _fault(request, caller.app_id, "register")
    sim = _sim(request)
    failure: GraphError | None = None
    result: dict[str, Any] = {}
    async with sim.sessions() as db, db.begin():
        phone = await db.get(SimPhoneNumber, phone_id)
        if phone is None:
            raise graph_errors.unknown_object(phone_id, "post")
        await service.waba_for(db, caller, phone.waba_id)
        try:
            result = await service.register_phone(db, phone, params)
        except GraphError as problem:
            failure = problem  # the attempt is still counted: commit, then answer the error
    if failure is not None:
        raise failure
    return result


# -- numbers after signup: add, request_code, verify_code ---------------------------------------------


async def _add_phone_number(request: Request, waba_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    caller = await _caller(request, params)
    await _fault(request, caller.app_id, "add_phone_number")
    async with _sim(request).sessions() as db, db.begin():
        waba = await _waba_or_unknown(db, caller, waba_id, "post")
        return await numbers.add_phone_number(db, waba, params)


async def _on_own_phone(
    request: Request, phone_id: str, params: dict[str, Any], call: str, rule: Callable[..., Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """A write on one of the caller's numbers whose refusal may change state (a wrong guess is
    counted): the transaction commits, then the error is answered."""
    caller = await _caller(request, params)
    await _fault(request, caller.app_id, call)
    sim = _sim(request)
    failure: GraphError | None = None
    result: dict[str, Any] = {}
    async with sim.sessions() as db, db.begin():
        phone = await db.get(SimPhoneNumber, phone_id)
        if phone is None or await service.waba_for(db, caller, phone.waba_id) is None:
            raise graph_errors.unknown_object(phone_id, "post")
        try:
            result = await rule(db, sim.keyring, phone, params)
        except GraphError as problem:
            failure = problem
    if failure is not None:
        raise failure
    return result


async def _request_code(request: Request, phone_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    return await _on_own_phone(request, phone_id, params, "request_code", numbers.request_code)


async def _verify_code(request: Request, phone_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    return await _on_own_phone(request, phone_id, params, "verify_code", numbers.verify_code)


# -- coexistence: smb_app_data ---------------------------------------------------------------------------


async def _smb_app_data(request: Request, phone_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    """A latency fault here delays the answer after Meta took the request (the case where the
    caller cannot know whether it arrived); other faults answer before the rules, as elsewhere."""
    caller = await _caller(request, params)
    sim = _sim(request)
    fault = await service.take_fault(sim.sessions, caller.app_id, "smb_app_data")
    if fault is not None and fault.kind != "latency":
        await _apply_fault(fault)
    async with sim.sessions() as db, db.begin():
        phone = await db.scalar(select(SimPhoneNumber).where(SimPhoneNumber.id == phone_id).with_for_update())
        if phone is None or await service.waba_for(db, caller, phone.waba_id) is None:
            raise graph_errors.unknown_object(phone_id, "post")
        result = await coexistence.request_sync(db, caller.app_id, phone, params)
    if "error" in result:
        raise result["error"]
    await service.apply_latency(fault)
    _emitter(request).spawn(coexistence.send_after_acceptance(_emitter(request), caller.app_id, phone_id, str(params["sync_type"])))
    return result


def _emitter(request: Request) -> Any:
    return request.app.state.emitter


# -- system user tokens, client WABAs, credit line -------------------------------------------------------


async def _system_user_access_tokens(request: Request, business_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    caller = await _caller(request, params)
    await _fault(request, caller.app_id, "system_user_access_tokens")
    if caller.kind != "system_user":
        raise graph_errors.permission_error()
    if not params.get("appsecret_proof"):
        raise graph_errors.invalid_appsecret_proof()
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        if not await service.shared_wabas(db, caller.app_id, business_id):
            raise graph_errors.permission_error()
        token = await service.mint_business_token(db, caller.app_id, business_id, "fetch")
    return {"access_token": token}


async def _client_wabas(request: Request, partner_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    caller = await _caller(request, params)
    await _fault(request, caller.app_id, "client_whatsapp_business_accounts")
    if caller.kind != "system_user":
        raise graph_errors.permission_error()
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        app = await db.get(SimApp, caller.app_id)
        if app is None or app.partner_business_id != partner_id:
            raise graph_errors.permission_error()
        items = []
        for waba in await service.shared_wabas(db, caller.app_id):
            business = await db.get(SimBusiness, waba.business_id)
            items.append(fields.select(service.waba_object(waba, business), fields.WABA, params.get("fields")))
    return fields.page(items, _url_of(request), dict(request.query_params))


async def _credit_sharing_and_attach(request: Request, credit_line_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    caller = await _caller(request, params)
    await _fault(request, caller.app_id, "credit_line")
    if caller.kind != "system_user" or _sim(request).app(caller.app_id).credit_line_id != credit_line_id:
        raise graph_errors.permission_error()
    currency = params.get("waba_currency")
    waba_id = params.get("waba_id")
    if not waba_id:
        raise graph_errors.missing_parameter("waba_id")
    if not currency:
        raise graph_errors.missing_parameter("waba_currency")
    if str(currency) not in CREDIT_CURRENCIES:
        raise graph_errors.invalid_parameter(f"Param waba_currency must be one of {{{', '.join(CREDIT_CURRENCIES)}}}")
    sim = _sim(request)
    async with sim.sessions() as db, db.begin():
        waba = await _waba_or_unknown(db, caller, str(waba_id), "post")
        share = await db.get(SimWabaShare, (waba.id, caller.app_id))
        assert share is not None
        if share.allocation_config_id is None:
            share.allocation_config_id = service.numeric_id(15)
            share.credit_currency = str(currency)
            waba.currency = str(currency)
        return {"allocation_config_id": share.allocation_config_id, "waba_id": waba.id}


# -- the app's webhook subscription --------------------------------------------------------------------------


async def _subscriptions(request: Request, app_id: str, params: dict[str, Any], method: str) -> dict[str, Any]:
    caller = await _caller(request, params)
    if caller.kind != "app":
        raise GraphError(15, "(#15) This method must be called with an app access_token.")
    if caller.app_id != app_id:
        raise graph_errors.permission_error()
    await _fault(request, caller.app_id, "subscriptions")
    sim = _sim(request)
    if method == "GET":
        async with sim.sessions() as db, db.begin():
            app = await service.ensure_app(db, sim.keyring, app_id)
            subscription = service.subscription_of(sim, app)
        return {
            "data": [
                {
                    "object": "whatsapp_business_account",
                    "callback_url": subscription["callback_url"],
                    "active": True,
                    "fields": [{"name": name, "version": subscription["version"]} for name in subscription["fields"]],
                }
            ]
        }
    target = params.get("object")
    if not target:
        raise graph_errors.missing_parameter("object")
    if target != "whatsapp_business_account":
        raise graph_errors.invalid_parameter("Param object must be one of {whatsapp_business_account}")
    callback_url = params.get("callback_url")
    if not callback_url:
        raise graph_errors.missing_parameter("callback_url")
    if not _is_web_url(str(callback_url)):
        raise graph_errors.invalid_parameter("Param callback_url must be a valid URL")
    verify_token = params.get("verify_token")
    if not verify_token:
        raise graph_errors.missing_parameter("verify_token")
    fields = _list_param(params.get("fields"))
    if not fields:
        raise graph_errors.missing_parameter("fields")
    bad = [name for name in fields if not re.fullmatch(r"[a-z_]{1,64}", name)]
    if bad:
        raise graph_errors.invalid_parameter(f"Param fields contains an invalid field: {bad[0]}")
    await verify_callback(_client(request), str(callback_url), str(verify_token))
    async with sim.sessions() as db, db.begin():
        app = await service.ensure_app(db, sim.keyring, app_id)
        app.callback_url = str(callback_url)
        app.callback_verify_token = str(verify_token)
        app.callback_fields = list(dict.fromkeys(fields))
        app.callback_version = request.state.graph_version
        app.updated_at = now_ms()
    return {"success": True}


def _list_param(value: Any) -> list[str]:
    """`fields` as Graph takes it: a JSON list, or a comma-separated string (possibly a JSON list in text)."""
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return _list_param(parsed)
        return [part.strip() for part in text.split(",") if part.strip()]
    return []


# Parameters every call takes (the token, its proof), and what each write call takes besides.
COMMON_PARAMETERS = frozenset({"access_token", "appsecret_proof", "appsecret_time"})
WRITE_PARAMETERS: dict[tuple[str, str], frozenset[str]] = {
    ("subscribed_apps", "POST"): frozenset({"override_callback_uri", "verify_token"}),
    ("subscribed_apps", "DELETE"): frozenset(),
    ("register", "POST"): frozenset({"messaging_product", "pin", "data_localization_region"}),
    ("phone_numbers", "POST"): frozenset({"cc", "phone_number", "verified_name", "migrate_phone_number", "preverified_id"}),
    ("request_code", "POST"): frozenset({"code_method", "language"}),
    ("verify_code", "POST"): frozenset({"code"}),
    ("system_user_access_tokens", "POST"): frozenset({"fetch_only", "scope", "set_token_expires_in_60_days"}),
    ("subscriptions", "POST"): frozenset({"object", "callback_url", "verify_token", "fields", "include_values"}),
    ("whatsapp_credit_sharing_and_attach", "POST"): frozenset({"waba_currency", "waba_id"}),
    ("smb_app_data", "POST"): frozenset({"messaging_product", "sync_type"}),
}

EDGES: dict[tuple[str, str], Handler] = {
    ("phone_numbers", "GET"): _phone_numbers,
    ("phone_numbers", "POST"): _add_phone_number,
    ("request_code", "POST"): _request_code,
    ("verify_code", "POST"): _verify_code,
    ("subscribed_apps", "GET"): _subscribed_apps,
    ("subscribed_apps", "POST"): _subscribed_apps,
    ("subscribed_apps", "DELETE"): _subscribed_apps,
    ("register", "POST"): _register,
    ("system_user_access_tokens", "POST"): _system_user_access_tokens,
    ("client_whatsapp_business_accounts", "GET"): _client_wabas,
    ("subscriptions", "GET"): _subscriptions,
    ("subscriptions", "POST"): _subscriptions,
    ("whatsapp_credit_sharing_and_attach", "POST"): _credit_sharing_and_attach,
    ("smb_app_data", "POST"): _smb_app_data,
}
