"""Secrets at rest and secret material.

`Keyring` encrypts with AES-256-GCM under the first key and decrypts with any key it
holds, so `ROOST_SECRET_KEY="new,old"` rotates without rewriting old ciphertexts.
A ciphertext names the key it was made with (`v1.<key id>.<nonce+ciphertext>`).
"""

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hub_signature(app_secret: str, body: bytes) -> str:
    """Meta's `X-Hub-Signature-256` value: `sha256=` and the hex HMAC-SHA256 of the raw body with
    the app secret (what Meta sends, what the simulator sends, what Roost signs a forward with)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_key_text() -> str:
    """A fresh 256-bit key, in the form ROOST_SECRET_KEY takes (URL-safe base64)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _decode_key(text: str) -> bytes:
    text = text.strip()
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) != 32:
        raise ValueError("each ROOST_SECRET_KEY entry must be 32 bytes, URL-safe base64 encoded")
    return raw


class Keyring:
    def __init__(self, keys_text: str) -> None:
        keys = [_decode_key(part) for part in keys_text.split(",") if part.strip()]
        if not keys:
            raise ValueError("ROOST_SECRET_KEY holds no key")
        self._keys = {hashlib.sha256(key).hexdigest()[:8]: AESGCM(key) for key in keys}
        self._current = hashlib.sha256(keys[0]).hexdigest()[:8]
        # Derivations use the oldest key, so they survive a rotation that prepends a new key.
        self._derivation_key = keys[-1]

    def derive(self, label: str) -> bytes:
        """32 bytes that only this deployment can compute for `label` (HMAC-SHA256)."""
        return hmac.new(self._derivation_key, label.encode(), hashlib.sha256).digest()

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """`context` is bound as associated data: a ciphertext moved to another row fails."""
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        return f"v1.{self._current}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str = "") -> str:
        version, key_id, payload = token.split(".", 2)
        if version != "v1" or key_id not in self._keys:
            raise ValueError("ciphertext made with a key this server does not hold")
        raw = base64.urlsafe_b64decode(payload)
        return self._keys[key_id].decrypt(raw[:12], raw[12:], context.encode()).decode()
