"""Which Meta app a session uses: the simulator's in test mode, the organization's (or the
server's) in live mode (SPEC 6)."""

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from roost.config import Settings
from roost.kit.crypto import Keyring
from roost.kit.simulated_meta import SIMULATED_GRAPH_VERSION, simulated_app_for

SIMULATOR_GRAPH_BASE = "http://simulator.roost.internal/graph"


class ModeSettings(Protocol):
    """What the adapter reads of an organization's mode settings (organizations.models.ModeSettings
    has these columns; the adapter does not import the feature that stores them)."""

    organization_id: str
    livemode: bool
    meta_app_id: str | None
    meta_app_secret_encrypted: str | None
    meta_config_id: str | None
    meta_system_user_token_encrypted: str | None
    meta_verify_token_encrypted: str | None
    meta_partner_type: str | None
    meta_credit_line_id: str | None
    meta_graph_url: str | None
    meta_graph_version: str | None
    meta_sdk_url: str | None
    meta_dialog_origins: list | None


def meta_secret_context(organization_id: str, name: str) -> str:
    """The encryption context of one of an organization's live Meta secrets."""
    return f"meta:{organization_id}:live:{name}"


@dataclass(frozen=True)
class MetaApp:
    livemode: bool
    app_id: str
    app_secret: str
    config_id: str
    graph_base_url: str
    graph_version: str
    # The organization set graph_base_url itself (not the operator's ROOST_META_GRAPH_URL): its
    # Graph calls go through the address check of outbound webhooks (see Runtime.graph).
    graph_url_from_organization: bool
    sdk_url: str  # with {locale}
    dialog_origins: tuple[str, ...]
    system_user_token: str | None
    verify_token: str | None
    partner_type: str  # tech_provider | solution_partner
    credit_line_id: str | None

    @property
    def is_solution_partner(self) -> bool:
        return self.partner_type == "solution_partner"

    def sdk_url_for(self, meta_locale: str) -> str:
        return self.sdk_url.replace("{locale}", meta_locale)


@dataclass(frozen=True)
class LiveEndpoints:
    """Where a live app talks to Meta: the organization's values, else the server's (SPEC 6)."""

    graph_url: str
    graph_version: str
    sdk_url: str
    dialog_origins: tuple[str, ...]


def live_endpoints(settings: Settings, mode: ModeSettings) -> LiveEndpoints:
    server_origins = tuple(origin.strip() for origin in settings.meta_dialog_origins.split(",") if origin.strip())
    return LiveEndpoints(
        graph_url=mode.meta_graph_url or settings.meta_graph_url,
        graph_version=mode.meta_graph_version or settings.meta_graph_version,
        sdk_url=mode.meta_sdk_url or settings.meta_sdk_url,
        dialog_origins=tuple(mode.meta_dialog_origins or ()) or server_origins,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reveal(keyring: Keyring, ciphertext: str | None, context: str) -> str | None:
    return keyring.decrypt(ciphertext, context) if ciphertext else None


def resolve_meta_app(
    settings: Settings, keyring: Keyring, simulator_url: str, mode: ModeSettings
) -> MetaApp | None:
    """The Meta app for one organization and mode, or None when live mode has none configured."""
    if not mode.livemode:
        app = simulated_app_for(keyring, mode.organization_id)
        partner_type = mode.meta_partner_type or "tech_provider"
        return MetaApp(
            livemode=False,
            app_id=app.app_id,
            app_secret=app.app_secret,
            config_id=app.config_id,
            graph_base_url=SIMULATOR_GRAPH_BASE,
            graph_version=SIMULATED_GRAPH_VERSION,
            graph_url_from_organization=False,
            sdk_url=f"{simulator_url}/_sim/{{locale}}/sdk.js",
            dialog_origins=(_origin(simulator_url),),
            system_user_token=app.system_user_token,
            verify_token=app.verify_token,
            partner_type=partner_type,
            credit_line_id=app.credit_line_id if partner_type == "solution_partner" else None,
        )

    organization_id = mode.organization_id
    app_id = mode.meta_app_id or settings.meta_app_id
    secret = _reveal(keyring, mode.meta_app_secret_encrypted, meta_secret_context(organization_id, "app_secret")) or (
        settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else None
    )
    config_id = mode.meta_config_id or settings.meta_config_id
    if not (app_id and secret and config_id):
        return None
    system_user_token = _reveal(
        keyring, mode.meta_system_user_token_encrypted, meta_secret_context(organization_id, "system_user_token")
    ) or (settings.meta_system_user_token.get_secret_value() if settings.meta_system_user_token else None)
    verify_token = _reveal(keyring, mode.meta_verify_token_encrypted, meta_secret_context(organization_id, "verify_token")) or (
        settings.meta_verify_token.get_secret_value() if settings.meta_verify_token else None
    )
    endpoints = live_endpoints(settings, mode)
    return MetaApp(
        livemode=True,
        app_id=app_id,
        app_secret=secret,
        config_id=config_id,
        graph_base_url=endpoints.graph_url,
        graph_version=endpoints.graph_version,
        graph_url_from_organization=bool(mode.meta_graph_url),
        sdk_url=endpoints.sdk_url,
        dialog_origins=endpoints.dialog_origins,
        system_user_token=system_user_token,
        verify_token=verify_token,
        partner_type=mode.meta_partner_type or settings.meta_partner_type,
        credit_line_id=mode.meta_credit_line_id or settings.meta_credit_line_id,
    )
