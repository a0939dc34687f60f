"""Verifying the webhooks Roost sends (Standard Webhooks: https://www.standardwebhooks.com).

Roost signs each delivery with the endpoint's secret (`whsec_<base64 key>`):
`webhook-signature: v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{raw body}")>`
(several space-separated signatures while a rotated secret is still valid).

    event = roost_client.webhooks.verify(request.body, request.headers, "whsec_…")

Pass the raw body bytes exactly as received: a re-serialised JSON body will not verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Iterable, Mapping

from roost_client.errors import RoostError

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(RoostError):
    """The delivery is not authentic or not fresh: reject it (answer 400 or 401)."""


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    else:
        text = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise WebhookVerificationError("The webhook secret is not valid base64 after 'whsec_'") from None
    if not key:
        raise WebhookVerificationError("The webhook secret is empty")
    return key


def _lower(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    items = headers.items() if hasattr(headers, "items") else headers
    return {str(name).lower(): str(value) for name, value in items}


def sign(payload: bytes | str, secret: str | bytes, msg_id: str, timestamp: int) -> str:
    """The `webhook-signature` value for a payload (useful to test your own handler)."""
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    content = f"{msg_id}.{timestamp}.".encode("utf-8") + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(
    payload: bytes | str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    secret: str | bytes | Iterable[str | bytes],
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a delivery and return its parsed JSON body.

    `secret` may be one secret or several (accept the old and the new one while you roll a
    rotation out). Raises WebhookVerificationError when a header is missing, the timestamp is
    more than `tolerance` seconds away from now, or no signature matches."""
    body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    values = _lower(headers)
    msg_id = values.get("webhook-id")
    timestamp_text = values.get("webhook-timestamp")
    signatures = values.get("webhook-signature")
    if not msg_id or not timestamp_text or not signatures:
        raise WebhookVerificationError("Missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise WebhookVerificationError("The webhook timestamp is too old")
    if timestamp > current + tolerance:
        raise WebhookVerificationError("The webhook timestamp is in the future")

    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    if not secrets:
        raise WebhookVerificationError("No webhook secret given")
    content = f"{msg_id}.{timestamp_text}.".encode("utf-8") + body
    expected = [hmac.new(_key(item), content, hashlib.sha256).digest() for item in secrets]

    matched = False
    for entry in signatures.split(" "):
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        for digest in expected:
            # no early exit: the time taken does not depend on which signature matched
            matched = hmac.compare_digest(digest, given) or matched
    if not matched:
        raise WebhookVerificationError("No matching webhook signature")
    try:
        return json.loads(body)
    except ValueError:
        raise WebhookVerificationError("The webhook body is not JSON") from None
