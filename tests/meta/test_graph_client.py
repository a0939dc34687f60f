"""roost.meta.graph.GraphClient, the live adapter's Graph API client, against the simulator's Graph
API over real HTTP on loopback (the same client live mode points at graph.facebook.com)."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from roost.meta.graph import GraphClient, MetaError
from roost.organizations.models import ModeSettings
from roost.runtime import build_runtime
from tests.support.signups import GRAPH_VERSION, add_fault, sha256, sim_app, sim_signup
from tests.support import make_settings

T = TypeVar("T")


@pytest.fixture
def app(api) -> dict[str, Any]:
    return sim_app(api)


@pytest.fixture
def call(roost, app) -> Callable[..., Any]:
    """call(lambda graph: graph.some_call(...)) runs it with a fresh client, in a loop of its own."""

    def run(use: Callable[[GraphClient], Awaitable[T]], *, app_secret: str | None = None) -> T:
        async def main() -> T:
            async with httpx.AsyncClient(timeout=30) as http:
                graph = GraphClient(http, f"{roost.base_url}/_sim/graph", GRAPH_VERSION, app["app_id"], app_secret or app["app_secret"])
                return await use(graph)

        return asyncio.run(main())

    return run


def fault_use(roost, fault: dict[str, Any]) -> tuple[int, int]:
    """(hits, remaining) of an injected fault: how many calls reached the simulator."""
    return tuple(roost.sql("SELECT hits, remaining FROM sim_faults WHERE id = :id", id=fault["id"])[0])


@pytest.fixture
def onboarded(api, call) -> dict[str, Any]:
    """A finished signup whose code the client exchanged: its ids and the business token."""
    signup = sim_signup(api)
    token = call(lambda graph: graph.exchange_code(signup["code"]))
    return {**signup, "token": token}


def test_a_code_is_exchanged_for_the_business_token(roost, api, call):
    signup = sim_signup(api)

    token = call(lambda graph: graph.exchange_code(signup["code"]))

    assert token.startswith("EAA")
    minted = roost.sql("SELECT business_id, source FROM sim_tokens WHERE token_hash = :h", h=sha256(token))
    assert minted == [(signup["business_id"], "code")]


def test_a_used_code_is_a_permanent_meta_error(call, onboarded):
    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.exchange_code(onboarded["code"]))

    error = raised.value
    assert (error.code, error.subcode, error.http_status) == (100, 36009, 400)
    assert error.transient is False
    assert error.message == "This authorization code has been used."
    assert error.error_type == "OAuthException"
    assert isinstance(error.fbtrace_id, str) and len(error.fbtrace_id) >= 10


def test_a_wrong_app_secret_cannot_exchange_a_code(api, call):
    signup = sim_signup(api)

    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.exchange_code(signup["code"]), app_secret="not-the-secret")

    assert (raised.value.code, raised.value.http_status) == (1, 400)
    assert raised.value.message == "Error validating client secret."


def test_an_envelope_that_says_it_is_not_transient_is_believed(api, call):
    # Code 1 is usually Meta's transient "unknown error", but this answer says
    # "is_transient": false: retrying a wrong secret can never help.
    signup = sim_signup(api)

    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.exchange_code(signup["code"]), app_secret="not-the-secret")

    assert raised.value.transient is False


def test_debug_token_lists_the_granted_wabas(call, onboarded):
    granted = call(lambda graph: graph.debug_token(onboarded["token"]))

    assert granted.is_valid is True
    assert granted.waba_ids == [onboarded["waba_id"]]


def test_debug_token_with_the_system_user_token(app, call, onboarded):
    granted = call(lambda graph: graph.debug_token(onboarded["token"], app["system_user_token"]))

    assert granted.is_valid is True and granted.waba_ids == [onboarded["waba_id"]]


def test_debug_token_of_an_unknown_token_is_not_valid(call):
    granted = call(lambda graph: graph.debug_token("EAAGnotatokenthesimulatorminted"))

    assert granted.is_valid is False and granted.waba_ids == []


def test_the_wabas_phone_numbers_and_details_are_read(call, onboarded):
    phones = call(lambda graph: graph.phone_numbers(onboarded["waba_id"], onboarded["token"]))
    waba = call(lambda graph: graph.waba(onboarded["waba_id"], onboarded["token"]))
    phone = call(lambda graph: graph.phone_number(onboarded["phone_number_id"], onboarded["token"]))

    assert [item.id for item in phones] == [onboarded["phone_number_id"]]
    assert phones[0].code_verification_status == "VERIFIED"
    assert (phones[0].status, phones[0].platform_type, phones[0].is_on_biz_app) == ("PENDING", "NOT_APPLICABLE", False)
    assert waba.id == onboarded["waba_id"]
    assert waba.owner_business_info.id == onboarded["business_id"]
    assert phone == phones[0]


def test_every_page_of_a_wabas_phone_numbers_is_read(roost, call, onboarded):
    # Meta pages the list; a WABA with more numbers than a page must not lose the oldest ones.
    for n in range(1, 230):
        roost.sql(
            "INSERT INTO sim_phone_numbers (id, waba_id, country_code, number, display_phone_number, verified_name, "
            "code_verification_status, quality_rating, status, platform_type, is_on_biz_app, onboarded_at, created_at) "
            "VALUES (:id, :waba, '1', :number, :number, 'Acme', 'VERIFIED', 'GREEN', 'CONNECTED', 'NOT_APPLICABLE', "
            "false, :at, :at)",
            id=f"9{n:05d}", waba=onboarded["waba_id"], number=f"555{n:07d}", at=n,
        )
    phones = call(lambda graph: graph.phone_numbers(onboarded["waba_id"], onboarded["token"]))
    ids = [phone.id for phone in phones]
    assert len(ids) == 230 == len(set(ids))  # three pages of 100
    assert {f"9{n:05d}" for n in range(1, 230)} | {onboarded["phone_number_id"]} == set(ids)


def test_subscribing_the_app_to_a_waba(roost, app, call, onboarded):
    result = call(lambda graph: graph.subscribe_app(onboarded["waba_id"], onboarded["token"]))

    assert result is None
    assert roost.sql(
        "SELECT subscribed FROM sim_waba_shares WHERE waba_id = :w AND app_id = :a", w=onboarded["waba_id"], a=app["app_id"]
    ) == [(True,)]


def test_registering_a_number_sets_its_pin(roost, call, onboarded):
    call(lambda graph: graph.register_phone(onboarded["phone_number_id"], "246810", onboarded["token"]))

    assert roost.sql(
        "SELECT status, platform_type, pin_hash FROM sim_phone_numbers WHERE id = :p", p=onboarded["phone_number_id"]
    ) == [("CONNECTED", "CLOUD_API", sha256(f"{onboarded['phone_number_id']}:246810"))]


def test_a_register_error_carries_metas_code(call, onboarded):
    call(lambda graph: graph.register_phone(onboarded["phone_number_id"], "246810", onboarded["token"]))

    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.register_phone(onboarded["phone_number_id"], "135790", onboarded["token"]))

    assert (raised.value.code, raised.value.http_status, raised.value.transient) == (133005, 400, False)


def test_a_business_token_is_fetched_with_the_system_user_token(roost, app, call, onboarded):
    token = call(lambda graph: graph.business_token_for(onboarded["business_id"], app["system_user_token"]))

    assert token.startswith("EAA") and token != onboarded["token"]
    minted = roost.sql("SELECT business_id, source FROM sim_tokens WHERE token_hash = :h", h=sha256(token))
    assert minted == [(onboarded["business_id"], "fetch")]
    # The fetched token reaches the customer's WABA.
    phones = call(lambda graph: graph.phone_numbers(onboarded["waba_id"], token))
    assert [phone.id for phone in phones] == [onboarded["phone_number_id"]]


def test_the_appsecret_proof_is_checked(app, call, onboarded):
    # A client with the wrong app secret signs the system user token wrongly.
    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.business_token_for(onboarded["business_id"], app["system_user_token"]), app_secret="wrong")

    assert raised.value.code == 100
    assert "appsecret_proof" in raised.value.message


def test_a_transient_error_on_a_read_is_retried(roost, api, call, onboarded):
    fault = add_fault(api, call="phone_numbers", kind="http_error", status=503)

    phones = call(lambda graph: graph.phone_numbers(onboarded["waba_id"], onboarded["token"]))

    assert [phone.id for phone in phones] == [onboarded["phone_number_id"]]
    assert fault_use(roost, fault) == (1, 0)


def test_a_read_gives_up_after_two_quick_retries(roost, api, call, onboarded):
    fault = add_fault(api, call="phone_numbers", kind="http_error", status=503, count=5)

    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.phone_numbers(onboarded["waba_id"], onboarded["token"]))

    assert (raised.value.http_status, raised.value.code, raised.value.transient) == (503, None, True)
    assert fault_use(roost, fault) == (3, 2)


def test_a_permanent_error_on_a_read_is_not_retried(roost, api, call, onboarded):
    fault = add_fault(api, call="phone_numbers", kind="graph_error", meta_code=200, count=2)

    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.phone_numbers(onboarded["waba_id"], onboarded["token"]))

    assert (raised.value.code, raised.value.http_status, raised.value.transient) == (200, 403, False)
    assert fault_use(roost, fault) == (1, 1)


def test_a_code_exchange_is_never_repeated(roost, api, call):
    signup = sim_signup(api)
    fault = add_fault(api, call="oauth/access_token", kind="http_error", status=503, count=2)

    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.exchange_code(signup["code"]))

    assert (raised.value.http_status, raised.value.transient) == (503, True)
    assert fault_use(roost, fault) == (1, 1)  # one call reached Meta: the code is single-use


def test_a_registration_is_never_repeated(roost, api, call, onboarded):
    fault = add_fault(api, call="register", kind="graph_error", meta_code=133004, count=2)

    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.register_phone(onboarded["phone_number_id"], "246810", onboarded["token"]))

    assert (raised.value.code, raised.value.http_status, raised.value.transient) == (133004, 503, True)
    assert fault_use(roost, fault) == (1, 1)  # Meta counts register attempts


def test_metas_error_envelope_is_parsed(api, call, onboarded):
    add_fault(api, call="waba", kind="graph_error", meta_code=131031, meta_subcode=2494071, status=403,
              message="(#131031) Account has been locked")

    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.waba(onboarded["waba_id"], onboarded["token"]))

    error = raised.value
    assert error.code == 131031
    assert error.subcode == 2494071
    assert error.http_status == 403
    assert error.message == "(#131031) Account has been locked"
    assert error.error_type == "OAuthException"
    assert isinstance(error.fbtrace_id, str) and len(error.fbtrace_id) >= 10
    assert error.transient is False
    assert error.as_dict() == {"code": 131031, "subcode": 2494071, "message": error.message, "fbtrace_id": error.fbtrace_id}


@pytest.mark.parametrize(
    ("fault", "transient"),
    [
        ({"kind": "graph_error", "meta_code": 2}, True),  # is_transient in the envelope, HTTP 503
        ({"kind": "graph_error", "meta_code": 80007}, True),  # WABA rate limit, HTTP 400
        ({"kind": "graph_error", "meta_code": 4}, True),  # app rate limit, HTTP 400
        ({"kind": "graph_error", "meta_code": 100}, False),
        ({"kind": "graph_error", "meta_code": 190}, False),
        ({"kind": "http_error", "status": 502}, True),
        ({"kind": "http_error", "status": 404}, False),
    ],
)
def test_which_meta_errors_are_transient(api, call, onboarded, fault, transient):
    # A transient error on a read is retried twice: the fault must outlast all three calls.
    add_fault(api, call="waba", count=3, **fault)

    with pytest.raises(MetaError) as raised:
        call(lambda graph: graph.waba(onboarded["waba_id"], onboarded["token"]))

    assert raised.value.transient is transient


def test_an_unreachable_graph_is_a_transient_error(app):
    async def main() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            graph = GraphClient(http, "http://127.0.0.1:9/graph", GRAPH_VERSION, app["app_id"], app["app_secret"])
            await graph.waba("1", "token")

    with pytest.raises(MetaError) as raised:
        asyncio.run(main())

    assert (raised.value.code, raised.value.transient) == (None, True)


# -- where Graph calls may go -------------------------------------------------------------------


def exchange_through_runtime(settings, mode: ModeSettings, code: str) -> str:
    """The exchange as Roost makes it: the runtime picks the HTTP client for the app's Graph URL."""
    runtime = build_runtime(settings)

    async def main() -> str:
        try:
            return await runtime.graph(runtime.meta_app(mode)).exchange_code(code)
        finally:
            await runtime.close()

    return asyncio.run(main())


def live_settings(tmp_path, app: dict[str, Any], **overrides: Any):
    return make_settings(
        "sqlite", tmp_path, meta_app_id=app["app_id"], meta_app_secret=app["app_secret"],
        meta_config_id=app["config_id"], meta_graph_version=GRAPH_VERSION, **overrides,
    )


def test_an_organizations_own_graph_url_reaches_no_loopback_address(roost, api, app, call, tmp_path):
    # Saved before the address rules, or by a host name that resolves to this machine: the
    # calls carry the app secret and tokens, so the check is made again on every connection.
    signup = sim_signup(api)
    own = ModeSettings(organization_id="org_own", livemode=True, meta_graph_url=f"{roost.base_url}/_sim/graph")

    with pytest.raises(MetaError) as refused:
        exchange_through_runtime(live_settings(tmp_path, app), own, signup["code"])

    assert "loopback" in refused.value.message and refused.value.transient is False
    assert call(lambda graph: graph.exchange_code(signup["code"])).startswith("EAA")  # never reached Meta


def test_an_organizations_own_graph_url_may_be_local_on_a_development_server(roost, api, app, tmp_path):
    signup = sim_signup(api)
    own = ModeSettings(organization_id="org_own", livemode=True, meta_graph_url=f"{roost.base_url}/_sim/graph")

    token = exchange_through_runtime(live_settings(tmp_path, app, webhook_allow_private=True), own, signup["code"])

    assert token.startswith("EAA")


def test_the_servers_own_graph_url_is_the_operators_and_may_be_local(roost, api, app, tmp_path):
    signup = sim_signup(api)
    settings = live_settings(tmp_path, app, meta_graph_url=f"{roost.base_url}/_sim/graph")

    token = exchange_through_runtime(settings, ModeSettings(organization_id="org_own", livemode=True), signup["code"])

    assert token.startswith("EAA")
