"""Background work: expiry, lost codes, auto-claims, provisioning resumption, registration,
unsubscribes, coexistence syncs, Meta webhook relays, webhook delivery, retention. Safe to run in several processes."""

import asyncio

import structlog

from roost.db.engine import yield_to_other_tasks
from roost.hosted.service import settle_lost_codes
from roost.idempotency.service import purge_expired
from roost.kit.timeutil import now_ms
from roost.inbound import service as inbound
from roost.organizations.ratelimit import purge_old_windows
from roost.profiles import coexistence
from roost.profiles.lifecycle import unsubscribe_due
from roost.profiles.registration import register_newly_verified, resume_interrupted_registrations
from roost.provisioning.sweeps import resume_due
from roost.recovery.service import queue_auto_claims
from roost.runtime import Runtime
from roost.sessions.retention import purge_old_events
from roost.sessions.service import expire_overdue_sessions
from roost.webhooks.dispatcher import Dispatcher
from roost.webhooks.retention import purge_webhooks

log = structlog.get_logger("roost.worker")
EXPIRY_BATCH = 200


async def tick(runtime: Runtime) -> dict[str, int]:
    """One pass over everything due now."""
    done = {"expired": 0, "idempotency_keys_purged": 0, "rate_windows_purged": 0}
    async with runtime.sessions() as db:
        while True:
            async with db.begin():
                count = await expire_overdue_sessions(db, now_ms(), EXPIRY_BATCH)
            done["expired"] += count
            if count < EXPIRY_BATCH:
                break
            await yield_to_other_tasks()
        async with db.begin():
            done["lost_codes_settled"] = await settle_lost_codes(db, now_ms())
        async with db.begin():
            done["idempotency_keys_purged"] = await purge_expired(db, now_ms())
            done["rate_windows_purged"] = await purge_old_windows(db, now_ms())
            done["meta_relays_purged"] = await inbound.purge_finished_relays(db, now_ms())
    # Recovered sessions that Meta's webhook proved are claimed through provisioning (below).
    done["auto_claims_started"] = len(await queue_auto_claims(runtime, now_ms()))
    done["provisioning_resumed"] = await resume_due(runtime, now_ms())
    done["numbers_registered"] = await register_newly_verified(runtime, now_ms())
    done["registrations_resumed"] = await resume_interrupted_registrations(runtime, now_ms())
    done["apps_unsubscribed"] = await unsubscribe_due(runtime, now_ms())
    done["coexistence_syncs_requested"] = await coexistence.run_due(runtime, now_ms())
    done["session_events_purged"] = await purge_old_events(runtime.sessions, now_ms(), runtime.settings.retention_days)
    done["meta_relays_delivered"] = await inbound.deliver_relays(runtime.sessions, runtime.relay_http, now_ms())
    purged = await purge_webhooks(runtime.sessions, now_ms(), runtime.settings.retention_days)
    done.update({f"{name}_purged": count for name, count in purged.items()})
    if done["expired"]:
        runtime.metrics.sessions_expired.inc(done["expired"])
        log.info("sessions_expired", count=done["expired"])
    return done


async def run(runtime: Runtime, stop: asyncio.Event) -> None:
    interval = runtime.settings.worker_interval_seconds
    log.info("worker_started", interval_seconds=interval)
    # Webhook delivery has its own, faster loop (0.2 s, or woken by a commit in this process).
    dispatcher = asyncio.create_task(Dispatcher(runtime).run(stop))
    while not stop.is_set():
        try:
            await tick(runtime)
        except Exception:  # noqa: BLE001 - the loop must survive a bad pass (database restart, …)
            log.exception("worker_tick_failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
    await dispatcher
    log.info("worker_stopped")
