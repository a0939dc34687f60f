"""The console's own Roost (loopback webhooks allowed, retries far apart so that only a resend
delivers again), Chromium, and console users made with the accounts service."""

from collections.abc import Iterator
from typing import Any

import pytest

from roost.console import accounts
from roost.kit.timeutil import now_ms
from tests.hosted.conftest import HostedRoost, browser, context, page  # noqa: F401 - Chromium's fixtures, shared
from tests.support import Org

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def roost(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostedRoost]:
    server = HostedRoost(
        backend, tmp_path_factory.mktemp(f"console-{backend}"), own_database=True,
        webhook_allow_private=True, webhook_retry_schedule="600",
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def org(roost: HostedRoost) -> Org:
    return roost.new_org("Acme Cloud")


def make_user(roost: HostedRoost, org: Org, email: str, role: str = "admin", password: str = PASSWORD) -> str:
    async def create() -> str:
        async with roost.runtime.sessions() as db, db.begin():
            user, _ = await accounts.create_user(db, org.id, email, role, password, now_ms())
            return user.email

    return roost.run(create())


def sign_in(page: Any, base_url: str, email: str, password: str = PASSWORD, target: str = "/console") -> None:
    page.on("dialog", lambda dialog: dialog.accept())  # the confirm() before irreversible actions
    page.goto(base_url + target)
    page.fill("#email", email)
    page.fill("#password", password)
    page.click('[data-testid="sign-in"]')
    page.wait_for_load_state()
