"""roost_client.redirects.verify: SPEC 4.4's test vector and the server's own signer."""

from urllib.parse import urlencode

import pytest

from roost_client import redirects
from roost_client.redirects import RedirectVerificationError

SECRET = "rsec_test_4eC39HqLyjWDarjtT1zdp7dc"
VECTOR = {
    "session_id": "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
    "state": "abc123-csrf-token",
    "status": "completed",
    "business_profile_id": "wabp_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
    "waba_id": "524126980791429",
    "phone_number_id": "106540352242922",
    "timestamp": "1705321800",
}
VECTOR_SIGNATURE = "v1=f864446cd6ad6d448de36e4f29c33c9f3682d68113b8a8087b66bc4e92ff0389"
AT = 1705321800


def test_spec_test_vector():
    assert redirects.sign(VECTOR, SECRET) == VECTOR_SIGNATURE
    assert redirects.verify({**VECTOR, "signature": VECTOR_SIGNATURE}, SECRET, now=AT) == VECTOR


def test_the_callback_url_with_the_platforms_own_parameters_verifies():
    url = "https://example.com/whatsapp/callback?tenant=42&" + urlencode({**VECTOR, "signature": VECTOR_SIGNATURE})
    assert redirects.verify(url, SECRET, now=AT + 599) == VECTOR
    assert redirects.verify("?" + urlencode({**VECTOR, "signature": VECTOR_SIGNATURE}), SECRET, now=AT) == VECTOR
    assert redirects.verify("myapp://callback?" + urlencode({**VECTOR, "signature": VECTOR_SIGNATURE}), SECRET, now=AT)


def test_the_popup_message_verifies():
    message = {"type": "roost:embedded_signup", **VECTOR, "signature": VECTOR_SIGNATURE}
    assert redirects.verify(message, SECRET, now=AT)["status"] == "completed"


def test_agrees_with_the_servers_signer_on_unicode_and_reserved_characters():
    signing = pytest.importorskip("roost.hosted.signing")
    parameters = signing.result_parameters(
        session_id="wss_x", state="ñ &=+/?%~ 😀", status="failed", timestamp=AT,
        error="signup_error", error_description="Meta said: «no» (100%)",
    )
    signed = signing.signed(SECRET, parameters)
    assert redirects.verify(signed, SECRET, now=AT) == parameters
    assert redirects.verify(signing.redirect_url("https://example.com/cb?x=1", signed), SECRET, now=AT) == parameters


@pytest.mark.parametrize("name", sorted(VECTOR))
def test_any_changed_parameter_breaks_the_signature(name):
    changed = {**VECTOR, name: VECTOR[name] + "0", "signature": VECTOR_SIGNATURE}
    with pytest.raises(RedirectVerificationError, match="signature"):
        redirects.verify(changed, SECRET, now=AT)


def test_wrong_secret_missing_signature_and_stale_timestamps_are_refused():
    signed = {**VECTOR, "signature": VECTOR_SIGNATURE}
    with pytest.raises(RedirectVerificationError, match="signature"):
        redirects.verify(signed, "rsec_test_other", now=AT)
    with pytest.raises(RedirectVerificationError, match="no signature"):
        redirects.verify(VECTOR, SECRET, now=AT)
    with pytest.raises(RedirectVerificationError, match="timestamp"):
        redirects.verify(signed, SECRET, now=AT + 601)
    with pytest.raises(RedirectVerificationError, match="timestamp"):
        redirects.verify(signed, SECRET, now=AT - 601)
    # an added parameter that is signed by Roost (e.g. error) cannot be slipped in
    with pytest.raises(RedirectVerificationError, match="signature"):
        redirects.verify({**signed, "error": "x"}, SECRET, now=AT)


def test_a_repeated_result_parameter_is_refused():
    query = urlencode({**VECTOR, "signature": VECTOR_SIGNATURE}) + "&status=failed"
    with pytest.raises(RedirectVerificationError, match="twice"):
        redirects.verify("?" + query, SECRET, now=AT)
