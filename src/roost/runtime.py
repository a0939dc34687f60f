"""What one Roost process holds: settings, database engine, keyring, public URL."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from roost.config import Settings
from roost.db.engine import create_engine, is_sqlite, secure_write, session_factory, sqlite_path
from roost.kit.crypto import Keyring, new_key_text
from roost.observability import Metrics, configure_logging
from roost.sessions.service import SessionPolicy

log = structlog.get_logger("roost")


class ConfigurationError(Exception):
    pass


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker
    keyring: Keyring
    public_url: str
    metrics: Metrics

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            public_url=self.public_url,
            ttl_ms=self.settings.session_ttl_seconds * 1000,
            grace_ms=self.settings.session_grace_seconds * 1000,
        )

    async def close(self) -> None:
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
    )


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.runtime.sessions() as db:
        yield db
