"""The Meta app an organization uses in one mode, with a Graph client for it."""

from roost.meta.config import MetaApp
from roost.meta.graph import GraphClient
from roost.organizations.models import ModeSettings
from roost.organizations.service import mode_settings
from roost.runtime import ConfigurationError, Runtime


async def meta_for(runtime: Runtime, organization_id: str, livemode: bool) -> tuple[MetaApp, GraphClient, ModeSettings]:
    """Raises ConfigurationError when live mode has no Meta app configured."""
    async with runtime.sessions() as db, db.begin():
        mode = await mode_settings(db, organization_id, livemode)
    return meta_of(runtime, mode)


def meta_of(runtime: Runtime, mode: ModeSettings) -> tuple[MetaApp, GraphClient, ModeSettings]:
    """`meta_for` with the mode's settings already read."""
    app = runtime.meta_app(mode)
    if app is None:
        raise ConfigurationError(f"no Meta app is configured for {mode.organization_id} in live mode")
    return app, runtime.graph(app), mode
