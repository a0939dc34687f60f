"""Prefixed KSUID identifiers (`wss_2DbBs7GWhGvVNJGrDXr5RG0mBWI`).

A KSUID is 4 bytes of seconds since the KSUID epoch followed by 16 random bytes,
base62-encoded to exactly 27 characters, so ids sort roughly by creation second.
"""

import secrets
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KSUID_EPOCH = 1_400_000_000
KSUID_LENGTH = 27


def ksuid(at: float | None = None) -> str:
    seconds = int(time.time() if at is None else at) - _KSUID_EPOCH
    number = int.from_bytes(seconds.to_bytes(4, "big") + secrets.token_bytes(16), "big")
    chars = []
    while number:
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars)).rjust(KSUID_LENGTH, "0")


def new_id(prefix: str) -> str:
    return f"{prefix}_{ksuid()}"


def random_base62(nbytes: int) -> str:
    """A random base62 string carrying `nbytes * 8` bits of entropy."""
    number = int.from_bytes(secrets.token_bytes(nbytes), "big")
    length = 1
    while 62**length < 256**nbytes:
        length += 1
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "".join(chars)


def has_prefix(value: str, prefix: str) -> bool:
    """True when `value` looks like an id of this type (prefix + base62)."""
    head, sep, body = value.partition("_")
    return bool(sep) and head == prefix and 0 < len(body) <= 64 and body.isascii() and body.isalnum()
