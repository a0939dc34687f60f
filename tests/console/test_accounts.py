"""The account rules, in-process on the console's server database: passwords, several
organizations per user, lock-out and its end, disabled users."""

import pytest

from roost.console import accounts
from roost.kit.timeutil import now_ms
from tests.console.conftest import PASSWORD


def test_account_rules(roost, org):
    second = roost.new_org("Second Platform")

    async def scenario() -> None:
        now = now_ms()
        async with roost.runtime.sessions() as db, db.begin():
            for bad_role, bad_password in (("owner", PASSWORD), ("admin", "too short")):
                with pytest.raises(accounts.AccountError):
                    await accounts.create_user(db, org.id, "rules@acme.test", bad_role, bad_password, now)
            with pytest.raises(accounts.AccountError, match="needs a password"):
                await accounts.create_user(db, org.id, "rules@acme.test", "admin", None, now)
            user, created = await accounts.create_user(db, org.id, "Rules@Acme.test", "admin", PASSWORD, now)
            again, created_again = await accounts.create_user(db, second.id, "rules@acme.test", "viewer", None, now + 1)
            assert created and not created_again and again.id == user.id
            assert [(m.organization_id, m.role) for m, _ in await accounts.memberships_of(db, user.id)] == [
                (org.id, "admin"), (second.id, "viewer")
            ]

        async with roost.runtime.sessions() as db, db.begin():
            for attempt in range(1, accounts.LOCK_AFTER + 1):
                outcome = await accounts.check_credentials(db, "rules@acme.test", "wrong", now)
                assert outcome.user is None and outcome.failures == attempt
            assert outcome.locked
            assert (await accounts.check_credentials(db, "rules@acme.test", PASSWORD, now)).locked
            later = now + accounts.LOCK_MINUTES * 60_000 + 1
            signed_in = await accounts.check_credentials(db, "RULES@acme.test", PASSWORD, later)
            assert signed_in.user is not None and signed_in.user.failed_logins == 0

            token = await accounts.start_login(db, signed_in.user, org.id, later)
            operator = await accounts.operator_for(db, token, later)
            assert (operator.organization_id, operator.role, operator.livemode) == (org.id, "admin", False)
            assert await accounts.switch(db, operator, second.id, True)
            assert not await accounts.switch(db, operator, "org_not_a_member", False)
            switched = await accounts.operator_for(db, token, later)
            assert (switched.organization_id, switched.role, switched.livemode) == (second.id, "viewer", True)
            assert await accounts.operator_for(db, token, later + accounts.LOGIN_HOURS * 3_600_000) is None

            await accounts.disable_user(db, "rules@acme.test", later)
            assert await accounts.operator_for(db, token, later) is None
            assert (await accounts.check_credentials(db, "rules@acme.test", PASSWORD, later)).user is None

    roost.run(scenario())
