"""The result handed back to the platform (SPEC 4.4): parameters, signature, redirect, targets."""

import pytest

from roost.hosted import signing

SPEC_SECRET = "rsec_test_4eC39HqLyjWDarjtT1zdp7dc"
SPEC_PARAMETERS = {
    "session_id": "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
    "state": "abc123-csrf-token",
    "status": "completed",
    "business_profile_id": "wabp_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
    "waba_id": "524126980791429",
    "phone_number_id": "106540352242922",
    "timestamp": "1705321800",
}
SPEC_SIGNATURE = "v1=f864446cd6ad6d448de36e4f29c33c9f3682d68113b8a8087b66bc4e92ff0389"


def test_the_spec_test_vector():
    assert signing.signature(SPEC_SECRET, SPEC_PARAMETERS) == SPEC_SIGNATURE


def test_the_signature_does_not_depend_on_parameter_order():
    reversed_order = dict(reversed(list(SPEC_PARAMETERS.items())))
    assert signing.signature(SPEC_SECRET, reversed_order) == SPEC_SIGNATURE


def test_the_signature_parameter_itself_is_not_signed():
    assert signing.signature(SPEC_SECRET, {**SPEC_PARAMETERS, "signature": "v1=whatever"}) == SPEC_SIGNATURE


def test_canonical_form_sorts_and_percent_encodes_utf8():
    assert signing.canonical({"state": "a b&c=d/é~._-", "b": "1"}) == "b=1&state=a%20b%26c%3Dd%2F%C3%A9~._-"


@pytest.mark.parametrize("name", sorted(SPEC_PARAMETERS))
def test_changing_any_parameter_breaks_the_signature(name):
    params = signing.signed(SPEC_SECRET, SPEC_PARAMETERS)
    assert signing.verify(SPEC_SECRET, params)
    assert not signing.verify(SPEC_SECRET, {**params, name: params[name] + "x"})


def test_another_secret_does_not_verify():
    params = signing.signed(SPEC_SECRET, SPEC_PARAMETERS)
    assert not signing.verify("rsec_test_other", params)


def test_success_carries_the_ids_and_failure_the_error():
    success = signing.result_parameters(
        session_id="wss_1", state="s", status="completed", timestamp=1, business_profile_id="wabp_1", waba_id="2",
        phone_number_id="3", error="ignored", error_description="ignored",
    )
    assert success == {"session_id": "wss_1", "state": "s", "status": "completed", "business_profile_id": "wabp_1",
                       "waba_id": "2", "phone_number_id": "3", "timestamp": "1"}
    failure = signing.result_parameters(
        session_id="wss_1", state=None, status="cancelled", timestamp=1, waba_id="2",
        error="user_cancelled", error_description="The user went back.",
    )
    assert failure == {"session_id": "wss_1", "status": "cancelled", "error": "user_cancelled",
                       "error_description": "The user went back.", "timestamp": "1"}


@pytest.mark.parametrize(
    ("redirect_uri", "expected"),
    [
        ("https://app.example.com/cb", "https://app.example.com/cb?a=1&b=x%20y"),
        ("https://app.example.com/cb?keep=me", "https://app.example.com/cb?keep=me&a=1&b=x%20y"),
        ("https://app.example.com/cb?", "https://app.example.com/cb?a=1&b=x%20y"),
        ("myapp://callback", "myapp://callback?a=1&b=x%20y"),
        ("com.example.app:/oauth", "com.example.app:/oauth?a=1&b=x%20y"),
    ],
)
def test_redirect_url_keeps_the_uris_own_query(redirect_uri, expected):
    assert signing.redirect_url(redirect_uri, {"a": "1", "b": "x y"}) == expected


def test_popup_targets_are_the_redirect_origin_and_the_allowed_origins():
    assert signing.target_origins("https://App.example.com:443/cb?x=1", ["https://other.example.com", "https://app.example.com"]) == [
        "https://app.example.com", "https://other.example.com"]
    assert signing.target_origins("myapp://callback", ["http://localhost:3000"]) == ["http://localhost:3000"]
    assert signing.target_origins(None, []) == []
