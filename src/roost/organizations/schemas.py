from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roost.kit.timeutil import to_iso
from roost.kit.urls import normalize_origin, origin_problem, redirect_uri_problem
from roost.organizations.models import AdminKey, ModeSettings, Organization
from roost.organizations.service import mode_name


class AdminKeyCreateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100, description="A label to recognise the key by")


class SettingsUpdateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200, description="Shown to your users on the hosted page")
    allowed_origins: list[str] | None = Field(
        None, max_length=50, description="Origins that may receive the popup result (scheme://host[:port])"
    )
    allowed_redirect_uris: list[str] | None = Field(
        None, max_length=50, description="When not empty, a session's redirect_uri must equal one of these"
    )

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


def admin_key_object(key: AdminKey, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": key.id,
        "object": "admin_key",
        "livemode": key.livemode,
        "name": key.name,
        "redacted_key": f"sk_admin_{mode_name(key.livemode)}_…{key.last4}",
        "created_at": to_iso(key.created_at),
        "revoked_at": to_iso(key.revoked_at),
    }
    if secret is not None:
        body["admin_key"] = secret
    return body


def settings_object(organization: Organization, settings: ModeSettings, redirect_secret: str) -> dict[str, Any]:
    return {
        "object": "organization_settings",
        "organization_id": organization.id,
        "mode": mode_name(settings.livemode),
        "livemode": settings.livemode,
        "name": organization.name,
        "allowed_origins": settings.allowed_origins,
        "allowed_redirect_uris": settings.allowed_redirect_uris,
        "redirect_secret": redirect_secret,
        "updated_at": to_iso(settings.updated_at),
    }
