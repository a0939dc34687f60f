"""The 15-second rule when the page is gone: the worker recovers a started session whose
FINISH arrived without a code, and leaves a fresh FINISH alone."""

from roost.kit.timeutil import now_ms
from roost.meta.events import SignupMessage
from roost.sessions import flow
from roost.sessions.models import SignupSession
from roost.sessions.state import start
from roost.worker import tick
from tests.support import SESSIONS


def finished_on_meta(roost, session_id: str, ago_ms: int) -> None:
    async def play() -> None:
        async with roost.runtime.sessions() as db, db.begin():
            session = await db.get(SignupSession, session_id, with_for_update=True)
            at = now_ms() - ago_ms
            start(db, session, at, roost.runtime.session_policy.grace_ms)
            finish = SignupMessage(kind="finish", event="FINISH", waba_id="524126980791429", phone_number_id="1", business_id="2")
            flow.record_message(db, session, finish, at)

    roost.run(play())


def test_worker_recovers_a_finish_whose_code_never_came(hosted, api):
    stale = api.post(SESSIONS, json={}).json()
    fresh = api.post(SESSIONS, json={}).json()
    finished_on_meta(hosted, stale["id"], ago_ms=20_000)
    finished_on_meta(hosted, fresh["id"], ago_ms=1_000)

    hosted.run(tick(hosted.runtime))

    recovered = api.get(f"{SESSIONS}/{stale['id']}").json()
    assert recovered["status"] == "recovered"
    assert recovered["error"]["code"] == "code_not_exchanged"
    assert recovered["waba_id"] == "524126980791429"
    assert api.get(f"{SESSIONS}/{fresh['id']}").json()["status"] == "pending"
