"""`GET /`: where a person who opens Roost's address in a browser finds the API reference and the
console. An API client (anything that does not prefer HTML) gets the JSON 404 every unknown path
gets, with the same pointers in its message: `/` is not an API resource."""

import base64
import hashlib
import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from roost import __version__
from roost.hosted.service import security_headers
from roost.kit import errors

router = APIRouter(include_in_schema=False)

POINTERS = "the API reference is at /docs (OpenAPI: /openapi.json), the console at /console"

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1c1e21}"
    "h1{font-size:1.5rem;margin:0 0 .5rem}li{margin:.5rem 0}a{color:#0b6e4f}small{color:#606770}"
)
# The page's only style, allowed by its hash: nothing else may run or load.
CSP = (
    f"default-src 'none'; style-src 'sha256-{base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()}'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PAGE = f"""<!doctype html>
<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Roost</title><style>{STYLE}</style>
<h1>Roost is running</h1>
<p>This address serves Roost's API and the connect pages your users open. There is nothing to see
at <code>/</code> itself; you are probably looking for:</p>
<ul>
<li><a href="/docs" data-testid="home-docs">API reference</a>: every endpoint, to read and to try
(<a href="/openapi.json">OpenAPI</a>)</li>
<li><a href="/console" data-testid="home-console">Console</a>: your sessions and their outcomes in the browser</li>
</ul>
<p><small>Roost {html.escape(__version__)}</small></p>
</html>
"""


def _quality(accept: str, media_type: str) -> float:
    """How much the Accept header wants `media_type`: its own entry, else `type/*`, else `*/*`."""
    kind = media_type.split("/")[0]
    best: dict[str, float] = {}
    for part in accept.split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        best[name.lower()] = max(quality, best.get(name.lower(), 0.0))
    for candidate in (media_type, f"{kind}/*", "*/*"):
        if candidate in best:
            return best[candidate]
    return 0.0


def prefers_html(accept: str | None) -> bool:
    """A browser names text/html; curl and API clients send */* or ask for JSON."""
    if not accept:
        return False
    html_quality = _quality(accept, "text/html")
    return html_quality > 0 and "text/html" in accept.lower() and html_quality > _quality(accept, "application/json")


@router.get("/")
async def home(request: Request) -> HTMLResponse:
    if not prefers_html(request.headers.get("accept")):
        raise errors.not_found(f"Unrecognized request URL (GET /): {POINTERS}")
    return HTMLResponse(PAGE, headers={**security_headers(CSP), "Cache-Control": "no-store"})
