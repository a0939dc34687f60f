"""Delivers the outbox (SPEC 7.1): at least once, signed, retried for about 3 days.

One loop per worker process. Each pass (every 0.2 s, or at once when a commit in this process
emitted an event or an attempt finished):

1. records the attempts that finished, in one transaction;
2. claims due deliveries up to the free concurrency: `FOR UPDATE SKIP LOCKED` on PostgreSQL
   (SQLite has one writer) and a lease (`lease_until`, `lease_token`), so no other worker sends
   the same attempt while this one may still be sending it; a worker that dies leaves a lease
   that runs out, and another worker sends the delivery again (at least once);
3. starts one task per claimed delivery; the HTTP requests run outside any transaction.
"""

import asyncio
import codecs
import email.utils
import json
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx
import structlog
from sqlalchemy import insert, literal_column, or_, select, update
from standardwebhooks.webhooks import Webhook

from roost.config import Settings
from roost.kit.ids import new_id
from roost.kit.network import AddressNotAllowed, guarded_client
from roost.kit.timeutil import now_ms, to_iso
from roost.kit.validation import is_ascii_digits
from roost.runtime import Runtime
from roost.webhooks import outbox
from roost.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from roost.webhooks.service import signing_secrets

log = structlog.get_logger("roost.webhooks")

HOUR_MS = 3_600_000
# Waits after the 1st, 2nd, … failed attempt: 12 attempts over about 2.8 days.
RETRY_WAITS_MS = (5_000, 300_000, 1_800_000, 2 * HOUR_MS, 5 * HOUR_MS) + (10 * HOUR_MS,) * 6
JITTER = 0.1  # a wait grows by up to 10 %, so retries of many deliveries do not arrive in step
MAX_RETRY_AFTER_MS = 24 * HOUR_MS
DISABLE_AFTER_FAILING_MS = 5 * 24 * HOUR_MS
POLL_SECONDS = 0.2
MAX_ANSWER_BYTES = 64 * 1024
KEPT_ANSWER_BYTES = 1024  # the start of the answer's body, kept on the attempt for the delivery log
CONNECTIONS_PER_CLIENT = 8


def retry_waits(settings: Settings) -> tuple[int, ...]:
    if settings.webhook_retry_schedule:
        return tuple(int(float(part) * 1000) for part in settings.webhook_retry_schedule.split(",") if part.strip())
    return RETRY_WAITS_MS


def next_wait(waits: tuple[int, ...], attempts: int, retry_after_ms: int | None) -> int | None:
    """How long after failed attempt number `attempts` to try again; None when the schedule is over."""
    if attempts > len(waits):
        return None
    wait = int(waits[attempts - 1] * (1 + random.uniform(0, JITTER)))
    if retry_after_ms is not None:
        wait = max(wait, retry_after_ms)  # never sooner than the endpoint asked
    return wait


def parse_retry_after(value: str | None, now: int) -> int | None:
    """Retry-After as milliseconds from now: delta-seconds or an HTTP date; capped at 24 hours."""
    if not value:
        return None
    value = value.strip()
    if is_ascii_digits(value):
        wait = int(value) * 1000
    else:
        try:
            wait = int(email.utils.parsedate_to_datetime(value).timestamp() * 1000) - now
        except (TypeError, ValueError):
            return None
    return min(max(wait, 0), MAX_RETRY_AFTER_MS)


def payload(event: WebhookEvent) -> str:
    """The body: Standard Webhooks' {type, timestamp, data}, plus the event's id."""
    body = {"id": event.id, "type": event.type, "timestamp": to_iso(event.created_at), "data": event.data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def answer_text(raw: bytes) -> str:
    """The bytes of an answer as text: UTF-8, bad bytes replaced, a character cut at the end
    dropped, and NUL (which PostgreSQL's text refuses) replaced too."""
    return codecs.getincrementaldecoder("utf-8")("replace").decode(raw, final=False).replace("\x00", "\ufffd")


def signature_header(secrets_: list[str], message_id: str, timestamp_s: int, body: str) -> str:
    """One `v1,…` signature per secret, space-separated: receivers accept any that verifies."""
    moment = datetime.fromtimestamp(timestamp_s, tz=timezone.utc)
    return " ".join(Webhook(secret).sign(message_id, moment, body) for secret in secrets_)


@dataclass
class Job:
    delivery_id: str
    lease_token: str
    endpoint_id: str
    event_id: str
    event_type: str
    organization_id: str
    livemode: bool
    url: str
    body: str
    secrets: list[str]


@dataclass
class Outcome:
    job: Job
    at: int
    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after_ms: int | None
    response_body: str | None = None
    response_body_truncated: bool = False

    @property
    def succeeded(self) -> bool:
        return self.error is None


class Dispatcher:
    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.waits = retry_waits(settings)
        self.concurrency = settings.webhook_concurrency
        self.timeout = settings.webhook_timeout_seconds
        # A lease outlives any attempt (the client's time limit) by a wide margin.
        self.lease_ms = int(self.timeout * 1000) * 3 + 30_000
        # Several small clients rather than one big one: httpcore's pool looks at every
        # connection for every request it places, which costs more than the request itself
        # once dozens of connections are open (measured: ~2x the throughput at 64 in flight).
        self.clients = [
            guarded_client(allow_private=settings.webhook_allow_private, timeout=self.timeout, max_connections=CONNECTIONS_PER_CLIENT)
            for _ in range(-(-self.concurrency // CONNECTIONS_PER_CLIENT))
        ]
        self._next_client = 0
        self._wake = asyncio.Event()
        self._outcomes: list[Outcome] = []
        self._in_flight: set[asyncio.Task] = set()

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        outbox.add_waker(wake)
        log.info("webhook_dispatcher_started", concurrency=self.concurrency)
        try:
            while not stop.is_set():
                try:
                    await self.step()
                except Exception:  # noqa: BLE001 - a bad pass (database restart, …) must not end the loop
                    log.exception("webhook_dispatch_failed")
                    await asyncio.sleep(1)
                await self._pause(stop)
        finally:
            outbox.remove_waker(wake)
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=self.timeout + 1)
            try:
                await self._record()
            except Exception:  # noqa: BLE001 - unrecorded attempts are sent again after their lease
                log.exception("webhook_record_failed")
            for client in self.clients:
                await client.aclose()

    async def step(self) -> int:
        """Record what finished, then claim and start what is due. Returns how many started."""
        self._wake.clear()
        await self._record()
        free = self.concurrency - len(self._in_flight)
        # While requests are in flight, claim in batches (a quarter of the slots at least)
        # rather than one transaction per finished request.
        if free <= 0 or (self._in_flight and free < max(1, self.concurrency // 4)):
            return 0
        jobs = await self._claim(free)
        for job in jobs:
            task = asyncio.create_task(self._attempt(job))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(jobs)

    async def drain(self, timeout: float = 30) -> None:
        """Until nothing is due or in flight (tests and benchmarks drive the loop with this)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = await self.step()
            if not started and not self._in_flight and not self._outcomes:
                return
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)

    async def _pause(self, stop: asyncio.Event) -> None:
        if self._wake.is_set() or stop.is_set():
            return
        waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
        await asyncio.wait(waiters, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    # -- claim -----------------------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[Job]:
        D, E, V = WebhookDelivery, WebhookEndpoint, WebhookEvent
        now = now_ms()
        token = secrets.token_hex(8)
        async with self.runtime.sessions() as db, db.begin():
            rows = (
                await db.execute(
                    select(D.id)
                    .join(E, E.id == D.endpoint_id)
                    .where(
                        # The literal lets SQLite use the partial index of pending deliveries.
                        D.status == literal_column("'pending'"),
                        D.next_attempt_at <= now,
                        or_(D.lease_until.is_(None), D.lease_until <= now),
                        E.enabled.is_(True),
                    )
                    .order_by(D.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True, of=D)
                )
            ).all()
            if not rows:
                return []
            ids = [row.id for row in rows]
            await db.execute(update(D).where(D.id.in_(ids)).values(lease_until=now + self.lease_ms, lease_token=token))
            deliveries = list(await db.scalars(select(D).where(D.id.in_(ids))))
            events = {row.id: row for row in await db.scalars(select(V).where(V.id.in_({d.event_id for d in deliveries})))}
            endpoints = {row.id: row for row in await db.scalars(select(E).where(E.id.in_({d.endpoint_id for d in deliveries})))}
        jobs, bodies, keys = [], {}, {}
        for delivery in deliveries:
            event, endpoint = events[delivery.event_id], endpoints.get(delivery.endpoint_id)
            if endpoint is None:  # deleted since the claim's first read: it goes with its endpoint
                continue
            if event.id not in bodies:
                bodies[event.id] = payload(event)
            if endpoint.id not in keys:
                keys[endpoint.id] = signing_secrets(self.runtime.keyring, endpoint, now)
            jobs.append(
                Job(
                    delivery_id=delivery.id, lease_token=token, endpoint_id=endpoint.id, event_id=event.id,
                    event_type=event.type, organization_id=delivery.organization_id, livemode=delivery.livemode,
                    url=endpoint.url, body=bodies[event.id], secrets=keys[endpoint.id],
                )
            )
        return jobs

    # -- one attempt -------------------------------------------------------------------------------

    async def _attempt(self, job: Job) -> None:
        at = now_ms()
        started = time.monotonic()
        timestamp = at // 1000
        headers = {
            "content-type": "application/json",
            "webhook-id": job.event_id,  # the same for every attempt of an event: receivers dedupe by it
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(job.secrets, job.event_id, timestamp, job.body),
            "accept-encoding": "identity",  # an answer as sent, so its start can be kept as text
        }
        status_code = retry_after = error = answer = None
        kept = b""
        truncated = False
        client = self.clients[self._next_client]
        self._next_client = (self._next_client + 1) % len(self.clients)
        try:
            async with asyncio.timeout(self.timeout):  # the whole attempt, a slowly dripping answer included
                async with client.stream("POST", job.url, content=job.body.encode(), headers=headers) as response:
                    status_code = response.status_code
                    if 300 <= status_code < 400:
                        location = response.headers.get("location", "")[:200]
                        error = f"HTTP {status_code}: redirects are not followed (Location: {location})"
                    elif not 200 <= status_code < 300:
                        error = f"HTTP {status_code}"
                    if status_code in (429, 503):
                        retry_after = parse_retry_after(response.headers.get("retry-after"), now_ms())
                    # Read a short answer to its end so the connection can be reused; a long one
                    # is cut off (the connection is then closed). Only its start is kept.
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if len(kept) <= KEPT_ANSWER_BYTES:
                            kept += chunk[: KEPT_ANSWER_BYTES + 1 - len(kept)]
                        if read > MAX_ANSWER_BYTES:
                            break
                    truncated = len(kept) > KEPT_ANSWER_BYTES
                    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
                    answer = "(compressed answer: not shown)" if encoded and kept else answer_text(kept[:KEPT_ANSWER_BYTES])
        except AddressNotAllowed as refusal:
            error = f"address not allowed: {refusal}"
        except (httpx.TimeoutException, TimeoutError):
            status_code = None
            error = f"no response within {self.timeout:g} s"
        except httpx.HTTPError as problem:
            error = f"{type(problem).__name__}: {problem}"[:500]
        except Exception as problem:  # noqa: BLE001 - any failure is a failed attempt, never a lost one
            error = f"{type(problem).__name__}: {problem}"[:500]
        latency = int((time.monotonic() - started) * 1000)
        self._outcomes.append(Outcome(job, now_ms(), status_code, latency, error, retry_after, answer, truncated))
        self._wake.set()

    # -- record -------------------------------------------------------------------------------------

    async def _record(self) -> None:
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, []
        D, E = WebhookDelivery, WebhookEndpoint
        disabled: list[tuple[WebhookEndpoint, str]] = []
        async with self.runtime.sessions() as db, db.begin():
            # Endpoints before deliveries: the order PATCH (re-enable) locks them in too.
            endpoint_ids = sorted({outcome.job.endpoint_id for outcome in outcomes})
            endpoints = {
                row.id: row
                for row in await db.scalars(
                    select(E).where(E.id.in_(endpoint_ids)).order_by(E.id).with_for_update().execution_options(populate_existing=True)
                )
            }
            delivery_ids = sorted({outcome.job.delivery_id for outcome in outcomes})
            deliveries = {
                row.id: row
                for row in await db.scalars(
                    select(D).where(D.id.in_(delivery_ids)).order_by(D.id).with_for_update().execution_options(populate_existing=True)
                )
            }
            attempts = []
            for outcome in outcomes:
                job = outcome.job
                delivery, endpoint = deliveries.get(job.delivery_id), endpoints.get(job.endpoint_id)
                if delivery is None or endpoint is None:
                    continue  # the endpoint was deleted meanwhile, with its deliveries
                if delivery.lease_token != job.lease_token or delivery.status != outbox.PENDING:
                    log.warning("webhook_lease_lost", delivery_id=delivery.id, endpoint_id=endpoint.id)
                    continue
                delivery.attempts += 1
                delivery.lease_until = delivery.lease_token = None
                if outcome.succeeded:
                    delivery.status, delivery.finished_at, delivery.next_attempt_at = outbox.DELIVERED, outcome.at, None
                    endpoint.failing_since = None
                else:
                    wait = next_wait(self.waits, delivery.attempts, outcome.retry_after_ms)
                    if wait is None:
                        delivery.status, delivery.finished_at, delivery.next_attempt_at = outbox.FAILED, outcome.at, None
                    else:
                        delivery.next_attempt_at = outcome.at + wait
                    endpoint.failing_since = endpoint.failing_since or outcome.at
                    reason = None
                    if outcome.status_code == 410:
                        reason = "gone"
                    elif outcome.at - endpoint.failing_since >= DISABLE_AFTER_FAILING_MS:
                        reason = "failing"
                    if reason and endpoint.enabled:
                        endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, outcome.at
                        endpoint.updated_at = outcome.at
                        disabled.append((endpoint, reason))
                attempts.append(
                    {
                        "id": new_id("wha"),
                        "delivery_id": delivery.id,
                        "endpoint_id": endpoint.id,
                        "event_id": job.event_id,
                        "event_type": job.event_type,
                        "organization_id": job.organization_id,
                        "livemode": job.livemode,
                        "attempt": delivery.attempts,
                        "succeeded": outcome.succeeded,
                        "status_code": outcome.status_code,
                        "latency_ms": outcome.latency_ms,
                        "error": outcome.error,
                        "response_body": outcome.response_body,
                        "response_body_truncated": outcome.response_body_truncated,
                        "next_attempt_at": delivery.next_attempt_at,
                        "created_at": outcome.at,
                    }
                )
            if attempts:
                await db.execute(insert(WebhookAttempt), attempts)
        metrics = self.runtime.metrics
        for outcome in outcomes:
            metrics.webhook_attempts.labels("succeeded" if outcome.succeeded else "failed").inc()
        for endpoint, reason in disabled:
            log.warning(
                "webhook_endpoint_disabled",
                endpoint_id=endpoint.id,
                organization_id=endpoint.organization_id,
                livemode=endpoint.livemode,
                reason=reason,
                failing_since=to_iso(endpoint.failing_since),
                url=endpoint.url,
            )
