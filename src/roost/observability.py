"""Request ids, JSON logs with secrets redacted, Prometheus metrics, and the last-resort 500."""

import logging
import re
import sys
import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roost.kit import errors
from roost.kit.ids import random_base62
from roost.kit.web import error_response

_SECRET_PATTERNS = [
    (re.compile(r"(sk_admin_(?:test|live)_)[A-Za-z0-9]+"), r"\1[REDACTED]"),
    (re.compile(r"(rsec_(?:test|live)_)[A-Za-z0-9]+"), r"\1[REDACTED]"),
    (re.compile(r"(whsec_)[A-Za-z0-9+/=_-]+"), r"\1[REDACTED]"),
    (re.compile(r"([?&]token=)[^&\s\"']+"), r"\1[REDACTED]"),
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), r"\1[REDACTED]"),
    # Meta access tokens (business, system user, app) begin with EAA.
    (re.compile(r"\b(EAA)[A-Za-z0-9]{20,}"), r"\1[REDACTED]"),
]
_SECRET_KEYS = {
    "authorization", "admin_key", "secret", "token", "password", "secret_key", "redirect_secret", "access_token",
    "business_token", "pin",
}


# All the patterns above in one search: most log values contain no secret, and one search is
# cheaper than a substitution per pattern.
_MAYBE_SECRET = re.compile(
    "|".join(("(?i:%s)" if p.flags & re.IGNORECASE else "(?:%s)") % p.pattern for p, _ in _SECRET_PATTERNS)
)


def redact_text(text: str) -> str:
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event.items()):
        if key.lower() in _SECRET_KEYS:
            event[key] = "[REDACTED]"
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def configure_logging(level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    numeric = numeric if isinstance(numeric, int) else logging.INFO
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


log = structlog.get_logger("roost")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "roost_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "roost_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.sessions_created = Counter(
            "roost_sessions_created_total", "Embedded signup sessions created", ["mode"], registry=self.registry
        )
        self.sessions_expired = Counter(
            "roost_sessions_expired_total", "Sessions moved to expired by the worker", registry=self.registry
        )
        self.webhook_attempts = Counter(
            "roost_webhook_attempts_total", "Outbound webhook delivery attempts", ["result"], registry=self.registry
        )


class RequestContextMiddleware:
    """Outermost layer: gives every request a `Request-Id`, logs it once, counts it, adds the
    rate-limit headers the auth step computed, and turns any unexpected exception into a 500
    in the documented shape (never a stack trace)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req_{random_base62(12)}"
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = list(message.get("headers", []))
                headers.append((b"request-id", request_id.encode()))
                rate_limit = scope["state"].get("rate_limit")
                if rate_limit is not None:
                    headers.extend((name.lower().encode(), value.encode()) for name, value in rate_limit.headers().items())
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled_error", path=scope.get("path"))
            if not status_holder["started"]:
                error = errors.ApiError(
                    500, "api_error", "internal_error", "Something went wrong on Roost's side; it is safe to retry"
                )
                await error_response(error, request_id)(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_name = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], route_name, str(status_holder["status"])).inc()
            self.metrics.latency.labels(scope["method"], route_name).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                path=scope.get("path"),
                status=status_holder["status"],
                client=(scope.get("client") or (None,))[0],  # behind a proxy: as ROOST_TRUSTED_PROXIES allows
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()
