"""roost_client.webhooks.verify against signatures made by the standardwebhooks reference package."""

import base64
import json
import time
from datetime import datetime, timezone

import pytest
from standardwebhooks.webhooks import Webhook

from roost_client import RoostError, webhooks
from roost_client.webhooks import WebhookVerificationError

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()
BODY = json.dumps(
    {"type": "embedded_signup.session.completed", "timestamp": "2026-01-01T00:00:00.000Z",
     "data": {"id": "wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI", "status": "completed", "name": "Café ☕"}},
    ensure_ascii=False,
).encode()


def signed_headers(secret: str = SECRET, body: bytes = BODY, msg_id: str = "evt_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
                   at: int | None = None) -> dict[str, str]:
    at = int(time.time()) if at is None else at
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, tz=timezone.utc), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def test_accepts_a_delivery_signed_by_the_reference_implementation():
    headers = signed_headers()
    assert webhooks.verify(BODY, headers, SECRET) == json.loads(BODY)
    # and the reference implementation accepts our signature
    ours = webhooks.sign(BODY, SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]))
    assert ours == headers["webhook-signature"]
    Webhook(SECRET).verify(BODY, {**headers, "webhook-signature": ours})


def test_header_names_are_case_insensitive_and_str_bodies_work():
    headers = {name.title(): value for name, value in signed_headers().items()}
    assert webhooks.verify(BODY.decode(), headers, SECRET)["data"]["name"] == "Café ☕"
    assert webhooks.verify(BODY, list(headers.items()), SECRET)["type"] == "embedded_signup.session.completed"


def test_any_of_several_signatures_may_match_as_during_a_rotation():
    old = signed_headers(OTHER_SECRET)
    new = signed_headers(SECRET, at=int(old["webhook-timestamp"]))
    both = {**new, "webhook-signature": f"{old['webhook-signature']} {new['webhook-signature']}"}
    assert webhooks.verify(BODY, both, SECRET)
    assert webhooks.verify(BODY, both, OTHER_SECRET)
    # the receiver can also hold both secrets
    assert webhooks.verify(BODY, new, [OTHER_SECRET, SECRET])


def test_a_secret_without_the_prefix_or_as_raw_bytes_works():
    headers = signed_headers()
    assert webhooks.verify(BODY, headers, SECRET[len("whsec_"):])
    assert webhooks.verify(BODY, headers, b"0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # body changed
        lambda h, b: ({**h, "webhook-id": "evt_other"}, b),  # id changed
        lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, b),  # unknown version only
        lambda h, b: ({**h, "webhook-signature": "v1,not base64!"}, b),
        lambda h, b: ({**h, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}, b),
    ],
)
def test_tampered_deliveries_are_refused(tamper):
    headers, body = tamper(signed_headers(), BODY)
    with pytest.raises(WebhookVerificationError, match="signature"):
        webhooks.verify(body, headers, SECRET)


def test_wrong_secret_is_refused():
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(BODY, signed_headers(), OTHER_SECRET)


def test_a_changed_timestamp_breaks_the_signature():
    headers = signed_headers()
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) - 1)
    with pytest.raises(WebhookVerificationError, match="signature"):
        webhooks.verify(BODY, headers, SECRET)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers_are_refused(missing):
    headers = signed_headers()
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="Missing"):
        webhooks.verify(BODY, headers, SECRET)


def test_timestamps_outside_five_minutes_are_refused_either_way():
    now = 1_800_000_000
    assert webhooks.verify(BODY, signed_headers(at=now - 300), SECRET, now=now)
    assert webhooks.verify(BODY, signed_headers(at=now + 300), SECRET, now=now)
    with pytest.raises(WebhookVerificationError, match="too old"):
        webhooks.verify(BODY, signed_headers(at=now - 301), SECRET, now=now)
    with pytest.raises(WebhookVerificationError, match="future"):
        webhooks.verify(BODY, signed_headers(at=now + 301), SECRET, now=now)
    with pytest.raises(WebhookVerificationError, match="integer"):
        webhooks.verify(BODY, {**signed_headers(at=now), "webhook-timestamp": "soon"}, SECRET, now=now)


def test_the_error_is_a_roost_error_and_bad_secrets_are_refused():
    with pytest.raises(RoostError):
        webhooks.verify(BODY, signed_headers(), "whsec_***")
    with pytest.raises(WebhookVerificationError, match="empty"):
        webhooks.verify(BODY, signed_headers(), "whsec_")
