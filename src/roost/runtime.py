"""What one Roost process holds: settings, database engine, keyring, public URL."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field

import httpx
import structlog
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.db.engine import create_engine, is_sqlite, secure_write, session_factory, sqlite_path
from roost.kit.crypto import Keyring, new_key_text
from roost.kit.network import guarded_client
from roost.meta.config import MetaApp, ModeSettings, resolve_meta_app
from roost.meta.graph import GraphClient
from roost.observability import Metrics, configure_logging

log = structlog.get_logger("roost")


class ConfigurationError(Exception):
    pass


@dataclass(frozen=True)
class SessionPolicy:
    """The server settings the session rules depend on."""

    public_url: str
    ttl_ms: int
    grace_ms: int


RELAY_CONNECTIONS = 8  # relay_http's connections


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker
    keyring: Keyring
    public_url: str
    metrics: Metrics
    live_http: httpx.AsyncClient
    # Graph calls to a URL an organization set itself (meta.graph_url): they carry its app secret
    # and tokens, so they reach only public addresses unless ROOST_WEBHOOK_ALLOW_PRIVATE=1.
    organization_graph_http: httpx.AsyncClient
    # Relays of Meta's webhooks to a platform's forward URL: the same address rules as outbound
    # webhooks (no private, loopback or link-local targets unless ROOST_WEBHOOK_ALLOW_PRIVATE=1).
    relay_http: httpx.AsyncClient
    # The requests' own first attempts at their relays, at most one per connection of relay_http:
    # more would wait inside httpcore's pool, which goes through its whole queue each time it
    # places a request (a burst of coexistence messages cost more there than in the attempts).
    relay_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(RELAY_CONNECTIONS), init=False)
    # In-process client to the simulator's ASGI app (set by wiring.build_simulator): test mode
    # reaches Meta's simulated Graph API without a network round trip.
    simulator_http: httpx.AsyncClient | None = None
    # Work a request started that goes on without it (provisioning after Meta's code, even if the
    # page leaves): the process does not close its database under it at shutdown.
    background: set[asyncio.Task] = field(default_factory=set, init=False)
    # Called at shutdown after the background work: optional parts' own tasks (the simulator's webhooks).
    stop_hooks: list[Callable[[], Awaitable[None]]] = field(default_factory=list, init=False)

    def run_in_background(self, work: Coroutine) -> asyncio.Task:
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    async def stop_background(self) -> None:
        """At shutdown, after uvicorn's grace (the requests that started this work waited for it
        as long as the grace allowed): what still runs is cancelled. Provisioning's lease lets a
        worker resume it from its last finished step."""
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        for hook in self.stop_hooks:
            await hook()

    @property
    def simulator_url(self) -> str:
        return (self.settings.simulator_url or self.public_url).rstrip("/")

    def meta_app(self, mode: ModeSettings) -> MetaApp | None:
        """The Meta app of one organization and mode (None: live mode has none configured)."""
        return resolve_meta_app(self.settings, self.keyring, self.simulator_url, mode)

    def graph(self, app: MetaApp) -> GraphClient:
        if app.livemode:
            http = self.organization_graph_http if app.graph_url_from_organization else self.live_http
        else:
            http = self.simulator_http
        if http is None:
            raise ConfigurationError("test mode needs the simulator, which is switched off (ROOST_SIMULATOR=0)")
        return GraphClient(http, app.graph_base_url, app.graph_version, app.app_id, app.app_secret)

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            public_url=self.public_url,
            ttl_ms=self.settings.session_ttl_seconds * 1000,
            grace_ms=self.settings.session_grace_seconds * 1000,
        )

    async def close(self) -> None:
        await self.live_http.aclose()
        await self.organization_graph_http.aclose()
        await self.relay_http.aclose()
        if self.simulator_http is not None:
            await self.simulator_http.aclose()
        await self.engine.dispose()


def load_keyring(settings: Settings) -> Keyring:
    """ROOST_SECRET_KEY, or for the embedded SQLite default a key file made once beside the database."""
    if settings.secret_key is not None:
        return Keyring(settings.secret_key.get_secret_value())
    path = sqlite_path(settings.database_url) if is_sqlite(settings.database_url) else None
    if path is None:
        raise ConfigurationError(
            "ROOST_SECRET_KEY is required with PostgreSQL (and with an in-memory SQLite database). "
            "Generate one with: roost secret-key"
        )
    key_file = path.with_name(path.name + ".key")
    if not key_file.exists():
        secure_write(key_file, new_key_text())
        log.warning("secret_key_generated", path=str(key_file), hint="back this file up with the database, or set ROOST_SECRET_KEY")
    return Keyring(key_file.read_text().strip())


def build_runtime(settings: Settings, port: int = 8000) -> Runtime:
    configure_logging(settings.log_level)
    engine = create_engine(settings.database_url)
    public_url = (settings.public_url or f"http://127.0.0.1:{port}").rstrip("/")
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        keyring=load_keyring(settings),
        public_url=public_url,
        metrics=Metrics(),
        live_http=httpx.AsyncClient(timeout=settings.meta_timeout_seconds, follow_redirects=False),
        organization_graph_http=guarded_client(
            allow_private=settings.webhook_allow_private, timeout=settings.meta_timeout_seconds, max_connections=20,
            user_agent=None,
        ),
        relay_http=guarded_client(
            allow_private=settings.webhook_allow_private, timeout=settings.webhook_timeout_seconds, max_connections=RELAY_CONNECTIONS
        ),
    )


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def runtime_dependency(request: Request) -> Runtime:
    """get_runtime for Depends(): FastAPI runs a plain function dependency in a worker thread,
    which costs more than everything else the dependency does."""
    return request.app.state.runtime


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.runtime.sessions() as db:
        yield db
