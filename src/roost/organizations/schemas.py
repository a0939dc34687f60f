import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints, ValidationInfo, field_validator

from roost.kit.network import address_refusal, literal_address
from roost.kit.objects import GIVEN, WHEN_GIVEN, ApiObject, From, OptionalTimestamp, Timestamp, list_of
from roost.kit.urls import has_space_or_control, normalize_origin, origin_problem, redirect_uri_problem, split_url
from roost.organizations.models import AdminKey, ModeSettings, Organization
from roost.organizations.service import mode_name


class AdminKeyCreateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = Field(
        None, description="A label to recognise the key by"
    )


def _origin(value: str) -> str:
    if origin_problem(value):
        raise ValueError(origin_problem(value))
    return normalize_origin(value)


Origin = Annotated[str, AfterValidator(_origin)]


class MetaSettingsParams(BaseModel):
    """Live mode's Meta app (test mode uses the simulator and accepts only partner_type).
    Send a field as null to clear it (the server-wide ROOST_META_* value then applies)."""

    model_config = ConfigDict(extra="forbid")

    app_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$")
    app_secret: str | None = Field(None, min_length=1, max_length=200, description="Write-only")
    config_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$", description="The Embedded Signup login configuration")
    system_user_token: str | None = Field(None, min_length=1, max_length=1000, description="Write-only")
    verify_token: str | None = Field(None, min_length=1, max_length=200, description="Write-only")
    partner_type: Literal["tech_provider", "solution_partner"] | None = None
    credit_line_id: str | None = Field(None, pattern=r"^[0-9]{1,32}$", description="Solution Partners")
    solution_id: str | None = Field(
        None,
        pattern=r"^[0-9]{1,32}$",
        description="A Multi-Partner Solution to onboard customers into (Meta's extras.setup.solutionID), "
        "unless a session names its own",
    )
    forward_url: str | None = Field(
        None,
        max_length=2048,
        description="Relay every webhook Meta sends to this organization's own app, unchanged (raw body and "
        "X-Hub-Signature-256), to this URL: your existing WhatsApp webhook handler",
    )
    graph_url: str | None = Field(None, max_length=2048, description="Graph API base URL (ROOST_META_GRAPH_URL)")
    graph_version: str | None = Field(None, pattern=r"^v[0-9]{1,3}\.[0-9]{1,3}$", description="Graph API version, e.g. v25.0")
    sdk_url: str | None = Field(
        None, max_length=2048, description="Meta's JavaScript SDK; {locale} is replaced (ROOST_META_SDK_URL)"
    )
    dialog_origins: list[Origin] | None = Field(
        None,
        min_length=1,
        max_length=10,
        description="Origins whose WA_EMBEDDED_SIGNUP messages the hosted page accepts (ROOST_META_DIALOG_ORIGINS)",
    )

    @field_validator("graph_url", "sdk_url")
    @classmethod
    def _meta_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        allow_private = bool((info.context or {}).get("allow_private_meta_urls"))
        problem = None if value is None else meta_url_problem(value, allow_private=allow_private)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("dialog_origins")
    @classmethod
    def _dialog_origins(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(value))  # each origin once

    @field_validator("forward_url")
    @classmethod
    def _forward_url(cls, value: str | None) -> str | None:
        if value is not None and forward_url_problem(value):
            raise ValueError(forward_url_problem(value))
        return value


META_SECRET_FIELDS = ("app_secret", "system_user_token", "verify_token")
# The Meta settings test mode accepts (everything else of test mode is the simulator's).
TEST_MODE_META_FIELDS = {"partner_type", "forward_url", "solution_id"}


def meta_url_problem(value: str, *, allow_private: bool = False) -> str | None:
    """None when `value` is a URL of Meta's side Roost may use: https:// to a public host.

    An admin key must not point Roost's Graph calls (which carry the app secret and tokens) at
    the machine Roost runs on or its network; `allow_private` (the operator's CLI, or a server in
    development with ROOST_WEBHOOK_ALLOW_PRIVATE) also allows http:// to loopback and private
    addresses, for a stand-in of Meta."""
    if has_space_or_control(value):
        return "must not contain spaces or control characters"
    parts = split_url(value)
    if parts is None:
        return "must be an https:// URL"
    if parts.query or parts.fragment or not value.split(":", 1)[-1].startswith("//"):
        return "must be an https:// URL with no query or fragment"
    problem = origin_problem(f"{parts.scheme}://{parts.netloc}")
    if problem or allow_private:
        return problem
    host = (parts.hostname or "").lower()
    address = literal_address(host)
    if parts.scheme != "https" or host == "localhost" or host.endswith(".localhost") or (address and address_refusal(address)):
        return "must be an https:// URL of a public host"
    return None


def forward_url_problem(value: str) -> str | None:
    """None when `value` is an http(s) URL Roost can POST webhooks to."""
    if has_space_or_control(value):
        return "must not contain spaces or control characters"
    parts = split_url(value)
    if parts is None:
        return "must be a valid http:// or https:// URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not value.split(":", 1)[1].startswith("//"):
        return "must be an http:// or https:// URL such as https://example.com/whatsapp/webhook"
    if parts.username or parts.password:
        return "must not contain a user name or password"
    if "#" in value:
        return "must not contain a fragment (#…)"
    return None

ACCENT_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


def logo_url_problem(value: str) -> str | None:
    """None when `value` is an https:// URL the hosted page can show as the logo."""
    if not 1 <= len(value) <= 2048:
        return "must be 1 to 2048 characters"
    if has_space_or_control(value):
        return "must not contain spaces or control characters"
    parts = split_url(value)
    if parts is None:
        return "must be a valid https:// URL"
    host = parts.hostname
    if parts.scheme.lower() != "https" or not host or not value[len("https:"):].startswith("//"):
        return "must be an https:// URL such as https://example.com/logo.png"
    if parts.username or parts.password:
        return "must not contain a user name or password"
    return None


class BrandingParams(BaseModel):
    """What the hosted connect page shows of the organization (both modes). null clears a field."""

    model_config = ConfigDict(extra="forbid")

    logo_url: str | None = Field(None, description="An https:// image URL shown on the hosted page")
    accent_color: str | None = Field(None, description="The page's accent colour, #RRGGBB", examples=["#0A7CFF"])

    @field_validator("logo_url")
    @classmethod
    def _logo_url(cls, value: str | None) -> str | None:
        if value is not None:
            problem = logo_url_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("accent_color")
    @classmethod
    def _accent_color(cls, value: str | None) -> str | None:
        if value is not None and not ACCENT_COLOR.fullmatch(value):
            raise ValueError("must be a colour in the form #RRGGBB, such as #0A7CFF")
        return value.upper() if value is not None else None


class CoexistenceSettingsParams(BaseModel):
    """What Roost does after a WhatsApp Business app number's signup (docs/coexistence.md)."""

    model_config = ConfigDict(extra="forbid")

    history_sync: StrictBool = Field(  # type: ignore[assignment]
        None, description="Ask Meta for the number's chat history (the last 180 days) after signup. Default true."
    )


class SettingsUpdateParams(BaseModel):
    """A field left out is left as it is. Only `messages_callback_url` (and the fields inside
    `meta` and `branding`) can be cleared with null; null anywhere else is refused, since it
    could mean "clear" or "leave" and the two differ (`[]` empties a list)."""

    model_config = ConfigDict(extra="forbid")

    # The None defaults below only mean "not given": the types are not nullable.
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = Field(  # type: ignore[assignment]
        None, description="Shown to your users on the hosted page"
    )
    allowed_origins: list[str] = Field(  # type: ignore[assignment]
        None, max_length=50, description="Origins that may receive the popup result (scheme://host[:port])"
    )
    allowed_redirect_uris: list[str] = Field(  # type: ignore[assignment]
        None, max_length=50, description="When not empty, a session's redirect_uri must equal one of these"
    )

    branding: BrandingParams = Field(  # type: ignore[assignment]
        None, description="The hosted page's logo and accent colour (organization-wide, both modes)"
    )
    meta: MetaSettingsParams = Field(None, description="This mode's Meta app")  # type: ignore[assignment]
    auto_claim: StrictBool = Field(  # type: ignore[assignment]
        None,
        description="Claim recovered sessions automatically when Meta's account_update proves them (needs a system user token)",
    )
    messages_callback_url: str | None = Field(
        None,
        max_length=200,
        description="Where Meta sends your customers' WhatsApp messages (set on each WABA as override_callback_uri); "
        "null clears it",
    )
    token_custody_enabled: StrictBool = Field(  # type: ignore[assignment]
        None,
        description="Whether admin keys of this mode may read business tokens "
        "(GET …/business-profiles/{id}/access-token; live keys only). Default true.",
    )
    coexistence: CoexistenceSettingsParams = Field(  # type: ignore[assignment]
        None, description="The syncs of WhatsApp Business app numbers (coexistence) after signup"
    )

    @field_validator("messages_callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        if value is not None and (redirect_uri_problem(value) or not value.lower().startswith("https://")):
            raise ValueError("must be an https:// URL (Meta only calls HTTPS endpoints)")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        for value in values:
            problem = origin_problem(value)
            if problem:
                raise ValueError(f"entry '{value}' {problem}")
        return list(dict.fromkeys(normalize_origin(value) for value in values))

    @field_validator("allowed_redirect_uris")
    @classmethod
    def _redirect_uris(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        for value in values:
            problem = redirect_uri_problem(value)
            if problem:
                raise ValueError(f"entry '{value}' {problem}")
        return list(dict.fromkeys(values))


# -- what the API returns: each model documents the object and renders it (kit.objects) ----------


class AdminKeyObject(ApiObject):
    id: str = Field(examples=["key_2DbBs7GWhGvVNJGrDXr5RG0mBWI"])
    object: Literal["admin_key"] = "admin_key"
    livemode: bool
    name: str | None
    redacted_key: Annotated[str, GIVEN] = Field(examples=["sk_admin_test_…a1b2"])
    created_at: Timestamp
    revoked_at: OptionalTimestamp
    admin_key: Annotated[str | None, WHEN_GIVEN] = Field(
        None, description="The key itself: only in the create response (and its idempotent replays)"
    )


AdminKeyList = list_of(AdminKeyObject, "AdminKeyList")


def admin_key_object(key: AdminKey, secret: str | None = None) -> dict[str, Any]:
    return AdminKeyObject.render(key, redacted_key=f"sk_admin_{mode_name(key.livemode)}_…{key.last4}", admin_key=secret)


class Branding(ApiObject):
    logo_url: str | None
    accent_color: str | None = Field(examples=["#0A7CFF"])


class MetaSummary(ApiObject):
    """The mode's Meta app as the API shows it: ids and whether each secret is set, never secrets."""

    all_given = True

    configured: bool = Field(description="Whether this mode has a Meta app to run signups with")
    source: str | None = Field(description="simulator (test mode) | organization | server | null (none)")
    app_id: str | None
    config_id: str | None
    graph_url: str | None = Field(description="Live mode's Graph API base URL (null in test mode)")
    graph_version: str
    sdk_url: str
    dialog_origins: list[str]
    app_secret_set: bool
    system_user_token_set: bool
    verify_token_set: bool
    partner_type: str | None = Field(description="tech_provider | solution_partner")
    credit_line_id: str | None
    solution_id: str | None = Field(description="The Multi-Partner Solution new sessions onboard into, by default")
    forward_url: str | None


class CoexistenceSettings(ApiObject):
    history_sync: Annotated[bool, From("coexistence_history_sync")] = Field(
        description="Whether Roost asks Meta for a WhatsApp Business app number's chat history after signup"
    )


class OrganizationSettings(ApiObject):
    object: Literal["organization_settings"] = "organization_settings"
    organization_id: Annotated[str, GIVEN]
    mode: Annotated[str, GIVEN] = Field(description="test | live")
    livemode: bool
    name: Annotated[str, GIVEN]
    branding: Annotated[Branding, GIVEN]
    allowed_origins: list[str]
    allowed_redirect_uris: list[str]
    redirect_secret: Annotated[str, GIVEN] = Field(description="Verifies the signed redirect to your redirect_uri")
    meta: Annotated[MetaSummary, GIVEN]
    messages_callback_url: str | None
    token_custody_enabled: bool
    auto_claim: bool
    coexistence: Annotated[CoexistenceSettings, GIVEN]
    updated_at: Timestamp


def settings_object(
    organization: Organization, settings: ModeSettings, redirect_secret: str, meta: dict[str, Any]
) -> dict[str, Any]:
    return OrganizationSettings.render(
        settings,
        organization_id=organization.id,
        mode=mode_name(settings.livemode),
        name=organization.name,
        branding=Branding.render(organization),
        redirect_secret=redirect_secret,
        meta=meta,
        coexistence=CoexistenceSettings.render(settings),
    )
