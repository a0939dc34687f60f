"""The browser side: `sdk.js` (window.FB), the Embedded Signup dialog and its finish endpoint.

The dialog page is rendered by Jinja2 with autoescaping, and its script never writes user data
as HTML, so any prefill value is shown as text. The page runs under a strict CSP (scripts and
styles from the simulator's own origin only).
"""

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field, field_validator

from roost.kit import errors
from roost.kit.crypto import constant_time_equal
from roost.kit.web import parse_model, read_json_object
from roost.simulator import i18n, service
from roost.simulator.control import run_signup
from roost.simulator.service import Simulator

router = APIRouter()

HERE = Path(__file__).parent
STATIC = HERE / "static"
_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

LOCALE = re.compile(r"^[a-z]{2}_[A-Z]{2}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
DIALOG_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DIALOG_HEADERS = {
    "Content-Security-Policy": DIALOG_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

STEPS = (
    ("login", "BUSINESS_ACCOUNT_SELECTION"),
    ("business", "BUSINESS_ACCOUNT_SELECTION"),
    ("waba", "WABA_PHONE_PROFILE_PICKER"),
    ("profile", "WHATSAPP_BUSINESS_PROFILE_SETUP"),
    ("phone", "PHONE_NUMBER_SETUP"),
    ("verify", "PHONE_NUMBER_VERIFICATION"),
    ("permissions", "PERMISSIONS"),
    ("done", "PERMISSIONS"),
)


def _sim(request: Request) -> Simulator:
    return request.app.state.simulator


# -- sdk.js ------------------------------------------------------------------------------------------


def _sdk(request: Request, locale: str) -> Response:
    sim = _sim(request)
    config = {"dialogUrl": f"{sim.simulator_url}/_sim/dialog", "origin": sim.simulator_origin, "locale": locale}
    encoded = json.dumps(config).replace("<", "\\u003c")
    source = (STATIC / "sdk.js").read_text().replace('"__ROOST_SIM_CONFIG__"', encoded)
    return Response(
        source,
        media_type="application/javascript; charset=utf-8",
        headers={
            # The SDK snippet loads with crossorigin="anonymous": a CORS answer is required.
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=300",
        },
    )


@router.get("/sdk.js", include_in_schema=False)
async def sdk(request: Request) -> Response:
    return _sdk(request, "en_US")


@router.get("/{locale}/sdk.js", include_in_schema=False)
async def sdk_for_locale(request: Request, locale: str) -> Response:
    if not LOCALE.fullmatch(locale):
        raise errors.not_found(f"No SDK for the locale {locale!r}")
    return _sdk(request, locale)


# -- the dialog ----------------------------------------------------------------------------------------


def _display(value: Any) -> str:
    """A prefill value as text (the template escapes it)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _prefill_view(extras: dict[str, Any]) -> dict[str, Any]:
    setup = service.setup_of(extras)
    business = setup.get("business") if isinstance(setup.get("business"), dict) else {}
    address = business.get("address") if isinstance(business.get("address"), dict) else {}
    phone_block = business.get("phone") if isinstance(business.get("phone"), dict) else {}
    profile = setup.get("phone") if isinstance(setup.get("phone"), dict) else {}
    address_text = ", ".join(
        _display(address.get(key))
        for key in ("streetAddress1", "streetAddress2", "city", "state", "zipPostal")
        if address.get(key) not in (None, "")
    )
    phone_text = ""
    if phone_block:
        phone_text = f"+{_display(phone_block.get('code'))} {_display(phone_block.get('number'))}".strip()
    pre_verified = setup.get("preVerifiedPhone") if isinstance(setup.get("preVerifiedPhone"), dict) else {}
    waba_block = setup.get("whatsAppBusinessAccount") if isinstance(setup.get("whatsAppBusinessAccount"), dict) else {}
    return {
        "business_id": _display(business.get("id")),
        "name": _display(business.get("name")),
        "email": _display(business.get("email")),
        "website": _display(business.get("website")),
        "address": address_text,
        "country": _display(address.get("country")),
        "phone": phone_text,
        "timezone": _display(business.get("timezone")),
        "display_name": _display(profile.get("displayName")),
        "category": _display(profile.get("category")),
        "description": _display(profile.get("description")),
        "pre_verified_phone": _display(service.first_id(pre_verified.get("ids"))) if pre_verified else "",
        "waba_id": _display(service.first_id(waba_block.get("ids", waba_block.get("id")))) if waba_block else "",
        "feature_type": _display(extras.get("featureType")),
    }


def _invalid_page(request: Request, locale: str | None, message: str) -> HTMLResponse:
    strings = i18n.strings_for(locale)
    html = _templates.get_template("dialog.html").render(
        strings=strings, lang=i18n.language_of(locale), invalid=message, config={"invalid": True}, steps=(),
        prefill={}, app_name=service.APP_NAME, cancel_steps=service.CANCEL_STEPS, reported_errors={},
    )
    return HTMLResponse(html, status_code=400, headers=DIALOG_HEADERS)


def _is_origin(value: str) -> bool:
    parts = urlsplit(value)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.path == ""
        and not parts.query
        and not parts.fragment
        and f"{parts.scheme}://{parts.netloc}" == value
    )


@router.get("/dialog", include_in_schema=False)
async def dialog(request: Request) -> HTMLResponse:
    query = request.query_params
    locale = query.get("locale") or "en_US"
    if not LOCALE.fullmatch(locale):
        locale = "en_US"
    app_id = query.get("app_id", "")
    if not service.is_app_id(app_id):
        return _invalid_page(request, locale, "Invalid App ID: the app_id parameter must be a Meta app id.")
    sim = _sim(request)
    config_id = query.get("config_id", "")
    if not constant_time_equal(config_id, sim.app(app_id).config_id):
        return _invalid_page(request, locale, "Invalid configuration: config_id is not a login configuration of this app.")
    origin = query.get("origin", "")
    if not _is_origin(origin):
        return _invalid_page(request, locale, "Invalid origin: the dialog must be opened by FB.login from a web page.")
    nonce = query.get("nonce", "")
    if not NONCE.fullmatch(nonce):
        return _invalid_page(request, locale, "Invalid request: missing or malformed nonce.")
    try:
        extras = json.loads(query.get("extras") or "{}")
    except ValueError:
        extras = {}
    if not isinstance(extras, dict):
        extras = {}

    prefill = _prefill_view(extras)
    feature_type = prefill["feature_type"]
    default_variant = {
        "whatsapp_business_app_onboarding": service.FINISH_COEXISTENCE,
        "only_waba_sharing": service.FINISH_ONLY_WABA,
    }.get(feature_type, service.FINISH)
    strings = i18n.strings_for(locale)
    config = {
        "app_id": app_id,
        "config_id": config_id,
        "origin": origin,
        "nonce": nonce,
        "extras": extras,
        "locale": locale,
        "default_variant": default_variant,
        "skip_verification": bool(prefill["pre_verified_phone"]) or default_variant != service.FINISH,
        "strings": {key: strings[key] for key in ("working", "finished", "error_generic", "no_opener")},
        "reported_errors": service.REPORTED_ERRORS,
    }
    html = _templates.get_template("dialog.html").render(
        strings={key: value.replace("{app}", service.APP_NAME) for key, value in strings.items()},
        lang=i18n.language_of(locale),
        invalid=None,
        config=config,
        steps=STEPS,
        prefill=prefill,
        app_name=service.APP_NAME,
        cancel_steps=service.CANCEL_STEPS,
        reported_errors=service.REPORTED_ERRORS,
        coexistence=default_variant == service.FINISH_COEXISTENCE,
    )
    return HTMLResponse(html, headers=DIALOG_HEADERS)


class CompleteParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nonce: str = Field(pattern=NONCE.pattern)
    app_id: str = Field(pattern=r"^[1-9][0-9]{0,31}$")
    config_id: str | None = Field(None, max_length=32)
    extras: dict[str, Any] = Field(default_factory=dict)
    variant: str = service.FINISH
    phone_verified: bool = True

    @field_validator("variant")
    @classmethod
    def _variant(cls, value: str) -> str:
        if value not in service.VARIANTS:
            raise ValueError(f"must be one of {', '.join(service.VARIANTS)}")
        return value


@router.post("/dialog/complete", include_in_schema=False)
async def complete(request: Request) -> JSONResponse:
    sim = _sim(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != sim.simulator_origin:
        raise errors.forbidden("origin_not_allowed", "The dialog can only be finished from the simulator's own pages")
    params = parse_model(CompleteParams, await read_json_object(request))
    if params.config_id is not None and not constant_time_equal(params.config_id, sim.app(params.app_id).config_id):
        raise errors.invalid("parameter_invalid", "config_id is not a login configuration of this app", param="config_id")
    try:
        result = await run_signup(
            request,
            params.app_id,
            variant=params.variant,
            extras=params.extras,
            nonce=params.nonce,
            source="dialog",
            phone_verified=params.phone_verified,
            webhook_event="PARTNER_APP_INSTALLED",
        )
    except service.SignupConflict as conflict:
        raise errors.conflict("dialog_already_finished", str(conflict)) from None
    return JSONResponse(result, headers={"Cache-Control": "no-store"})
