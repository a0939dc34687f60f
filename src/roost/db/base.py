"""Declarative base shared by every feature's models."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def load_all_models() -> None:
    """Import every feature's models so Base.metadata knows every table (Alembic, tests)."""
    from roost.audit import models as _audit  # noqa: F401
    from roost.console import models as _console  # noqa: F401
    from roost.idempotency import models as _idempotency  # noqa: F401
    from roost.meta import models as _meta  # noqa: F401
    from roost.organizations import models as _organizations  # noqa: F401
    from roost.profiles import models as _profiles  # noqa: F401
    from roost.sessions import models as _sessions  # noqa: F401
    from roost.simulator import models as _simulator  # noqa: F401
    from roost.webhooks import models as _webhooks  # noqa: F401
