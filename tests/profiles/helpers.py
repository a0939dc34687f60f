"""Helpers for the business-profile lifecycle tests: test-mode profiles played through `simulate`,
the simulator's view of a WABA's subscriptions, and a live-mode Roost whose "Meta" is its own
simulator (so live tokens can be read through the real HTTP API)."""

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from roost.kit.simulated_meta import SIMULATED_GRAPH_VERSION
from tests.support.signups import PROFILES, SETTINGS, get_profile, new_session, play, sim_app, wait_until
from tests.support import (
    PG_URL, SESSIONS, Org, RunningRoost, drop_postgres_database, make_settings, private_postgres_database,
)

AUDIT_LOG = "/v1/organization/audit-log"


def connect(api: httpx.Client, waba_id: str | None = None, **simulate: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A completed test session (for `waba_id` when given: a reconnection) and its profile."""
    body = {"prefill": {"whatsAppBusinessAccount": {"ids": [waba_id]}}} if waba_id else {}
    session = play(api, session=new_session(api, **body), **simulate)
    assert session["status"] == "completed", session
    return session, get_profile(api, session["business_profile_id"])


def disconnect(api: httpx.Client, profile_id: str) -> dict[str, Any]:
    response = api.delete(f"{PROFILES}/{profile_id}")
    assert response.status_code == 200, response.text
    return response.json()


def subscribed_apps(client: httpx.Client, waba_id: str) -> list[str]:
    """The apps Meta (the simulator) has subscribed to the WABA, asked with the system user token."""
    app = sim_app(client)
    response = client.get(
        f"/_sim/graph/{SIMULATED_GRAPH_VERSION}/{waba_id}/subscribed_apps",
        headers={"Authorization": f"Bearer {app['system_user_token']}"},
    )
    assert response.status_code == 200, response.text
    return [item["whatsapp_business_api_data"]["id"] for item in response.json()["data"]]


def token_works(client: httpx.Client, waba_id: str, token: str) -> bool:
    response = client.get(
        f"/_sim/graph/{SIMULATED_GRAPH_VERSION}/{waba_id}/phone_numbers", headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code == 200


# -- live mode against the built-in simulator ------------------------------------------------------


class LiveRoost:
    """A Roost with its own database whose live Meta app is the organization's simulated app:
    live sessions run through the hosted page's API and the simulator's Graph API over HTTP."""

    def __init__(self, backend: str, directory: Path) -> None:
        self.pg_url = private_postgres_database() if backend == "postgres" else None
        # ROOST_WEBHOOK_ALLOW_PRIVATE, as in development: an organization may point at a local stand-in.
        settings = make_settings(backend, directory, webhook_allow_private=True)
        if self.pg_url:
            settings = settings.model_copy(update={"database_url": self.pg_url})
        self.server = RunningRoost(settings).start()

    def close(self) -> None:
        self.server.stop()
        if self.pg_url:
            drop_postgres_database(self.pg_url)

    def new_org(self) -> Org:
        org = self.server.new_org(live=True)
        with org.client() as test, org.client(org.keys["live"]) as live:
            app = sim_app(test)
            # Live Graph calls go to this server's simulator (over loopback, like Meta over the
            # Internet), by the organization's own setting (SPEC 6: overridable per organization).
            meta = {"app_id": app["app_id"], "app_secret": app["app_secret"], "config_id": app["config_id"],
                    "graph_url": f"{self.server.base_url}/_sim/graph"}
            response = live.patch(SETTINGS, json={"meta": meta})
            assert response.status_code == 200, response.text
        return org

    def connect_live(self, org: Org, waba_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """A live session finished the way the hosted page does it: launch, Meta's FINISH message, the code."""
        with org.client() as test, org.client(org.keys["live"]) as live, httpx.Client(
            base_url=self.server.base_url, headers={"Origin": self.server.base_url}, timeout=30
        ) as page:
            created = live.post(SESSIONS, json={})
            assert created.status_code == 201, created.text
            session_id = created.json()["id"]
            link_token = parse_qs(urlsplit(created.json()["url"]).query)["token"][0]
            assert page.post("/embed/api/launch", json={"token": link_token}).status_code == 200
            extras = {"setup": {"whatsAppBusinessAccount": {"ids": [waba_id]}}} if waba_id else {}
            signup = test.post("/_sim/control/signups", json={"extras": extras, "webhook_event": None})
            assert signup.status_code == 201, signup.text
            message = page.post("/embed/api/message", json={"token": link_token, "message": signup.json()["event"]})
            assert message.status_code == 200, message.text
            code = page.post("/embed/api/code", json={"token": link_token, "code": signup.json()["code"]})
            assert code.status_code == 200 and code.json()["accepted"] is True, code.text

            def completed() -> dict[str, Any] | None:
                session = live.get(f"{SESSIONS}/{session_id}").json()
                return session if session["status"] == "completed" else None

            session = wait_until(completed, timeout=20)
            return session, get_profile(live, session["business_profile_id"])


__all__ = ["PG_URL", "AUDIT_LOG", "LiveRoost", "connect", "disconnect", "subscribed_apps", "token_works"]
