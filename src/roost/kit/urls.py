"""URL rules: where a session may send the user back to, and what an allowed origin is."""

import re
from urllib.parse import SplitResult, urlsplit

MAX_REDIRECT_URI_LENGTH = 2048
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
# Schemes that run code or read local data in the browser: never a place to send a user.
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about", "filesystem"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def split_url(url: str) -> SplitResult | None:
    """urlsplit, or None when the URL cannot be split or its port is not 1-65535 (`host:` and
    `host:0` included: no client sends such an origin or can connect there)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if port == 0 or parts.netloc.endswith(":"):
        return None
    return parts


def has_space_or_control(text: str) -> bool:
    """Spaces and control characters: never part of a URL Roost stores or connects to."""
    return any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def redirect_uri_problem(uri: str, *, allow_insecure: bool = False) -> str | None:
    """None when `uri` is an acceptable redirect URI, else a predicate saying why not."""
    if not 1 <= len(uri) <= MAX_REDIRECT_URI_LENGTH:
        return f"must be 1 to {MAX_REDIRECT_URI_LENGTH} characters"
    if has_space_or_control(uri):
        return "must not contain spaces or control characters"
    match = _SCHEME.match(uri)
    if not match:
        return "must be an absolute URI such as https://example.com/callback"
    if "#" in uri:
        return "must not contain a fragment (#…)"
    scheme = match.group(1).lower()
    if scheme in FORBIDDEN_SCHEMES:
        return f"must not use the {scheme}: scheme"
    rest = uri[len(match.group(0)) :]
    if scheme in ("http", "https"):
        parts = split_url(uri)
        if parts is None:
            return "must be a valid URL"
        host = parts.hostname
        if not rest.startswith("//") or not host:
            return "must be an absolute URI with a host, such as https://example.com/callback"
        if scheme == "http" and not allow_insecure and host not in LOOPBACK_HOSTS and f"[{host}]" not in LOOPBACK_HOSTS:
            return "must use https:// (plain http:// is only allowed for localhost, 127.0.0.1 and [::1])"
        return None
    # A custom app scheme (myapp://callback) must say something after the colon.
    if not rest or rest == "//":
        return "must name a target after the scheme, such as myapp://callback"
    return None


def origin_problem(origin: str) -> str | None:
    """None when `origin` is a web origin (scheme://host[:port], nothing else)."""
    parts = split_url(origin)
    if parts is None:
        return "must be an origin such as https://app.example.com (a port, if any, from 1 to 65535)"
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return "must be an origin such as https://app.example.com"
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return "must be an origin only (scheme://host[:port]) with no path, query or user"
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS and f"[{host}]" not in LOOPBACK_HOSTS:
        return "must use https:// (plain http:// is only allowed for localhost, 127.0.0.1 and [::1])"
    return None


def normalize_origin(origin: str) -> str:
    parts = urlsplit(origin)
    netloc = parts.netloc.lower()
    default_port = {"http": ":80", "https": ":443"}[parts.scheme]
    if netloc.endswith(default_port):
        netloc = netloc[: -len(default_port)]
    return f"{parts.scheme}://{netloc}"
