"""Meta's webhooks into Roost: POSTs per second and latency of `POST /meta/webhooks/{app_id}`.

    .venv/bin/python bench/inbound.py                     # SQLite and PostgreSQL, 2,000 POSTs per kind
    .venv/bin/python bench/inbound.py --sqlite-only --requests 500
    .venv/bin/python bench/inbound.py --smoke             # tiny counts: only checks that it works

Against the real `roost serve --no-worker` (a subprocess, test mode, the built-in simulator as
Meta) over loopback HTTP, with every body signed with the simulated app's secret
(`GET /_sim/control/app`), five kinds of POST, each measured apart:

1. `unknown_waba`: a `messages` webhook of a WABA Roost does not know (most of a shared app's
   traffic: every customer's messages come to the one callback URL);
2. `connected_waba`: a `messages` webhook of an ordinary connected profile's WABA;
3. `coexistence_forwarded`: a `messages` webhook of a coexistence profile's WABA, whose
   organization has a `messages_callback_url`: Roost stores one relay row (the entry, signed)
   and, after answering, makes its first attempt in the same process. The URL is a closed port
   on loopback (the server runs with ROOST_WEBHOOK_ALLOW_PRIVATE=1 so that it may be set), so
   each attempt fails at once: the figure holds the receiver's work, the relay row and one
   failed attempt (two short transactions), not a receiver's answer time. No worker runs, so
   no retry comes in between (the next is due 5 s later);
3b. `coexistence_delivered`: the same, with the messages_callback_url an HTTPS receiver on
   loopback in this process (a throw-away CA the server trusts through SSL_CERT_FILE) that
   answers 200 at once: what a forwarded entry costs when the organization's endpoint works
   (the receiver's own CPU is not the server's; each arrival's signature is checked);
4. `account_update`: an ACCOUNT_VIOLATION for the connected profile, each with a later
   `entry.time` and another violation type, so each is stored, applied to the profile's health
   and announced in the outbox (no endpoint takes it; no worker runs);
5. `account_update_duplicate`: one of (4) delivered again and again (found by its content,
   nothing applied).

Each kind: a warm-up, a wait for the machine to be idle (unless --no-wait), then N POSTs from
C keep-alive connections (closed loop: each sends its next POST when the previous one is
answered), with distinct bodies made and signed beforehand. Reported: POSTs/s, p50/p90/p99/max
latency, and CPU per POST of the server (and of PostgreSQL), measured from the first POST until
the last answer (kinds 3 and 3b: until the last relay attempt). Every answer is checked (200, and
`stored`/`duplicates` as the kind expects), and so are the rows left in the database.
Writes `bench/results/inbound.json`.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from databases import create_database, drop_database  # noqa: E402
from load import read_http_message  # noqa: E402
from roostproc import (  # noqa: E402
    QuietWaiter, RoostServer, free_port, machine_cpu, postgres_cpu_seconds, process_cpu_seconds, roost_cli, roost_env,
)

from roost.kit.crypto import new_key_text  # noqa: E402

SESSIONS = "/v1/organization/embedded-signup/sessions"
PROFILES = "/v1/organization/whatsapp/business-profiles"
SETTINGS = "/v1/organization/settings"
COEXISTENCE = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
KINDS = ("unknown_waba", "connected_waba", "coexistence_forwarded", "coexistence_delivered", "account_update", "account_update_duplicate")
FORWARDED = ("coexistence_forwarded", "coexistence_delivered")
VIOLATIONS = ("SCAM", "SPAM", "ADULT", "ILLEGAL_PRODUCTS")
TIME0 = 1_780_000_000  # entry.time of the first account_update (unix seconds; later than any the signup left)


# -- Meta's payloads ----------------------------------------------------------------------------


def message_webhook(waba_id: str, phone_number_id: str, display_number: str, n: int) -> dict[str, Any]:
    """A customer's text message, as Meta's `messages` webhook carries it (one entry, one change)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": display_number, "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": "16315551181"}],
            "messages": [{
                "from": "16315551181", "id": f"wamid.HBgLMTYzMTU1NTExODEVAgASGBQz{n:012d}", "timestamp": str(TIME0 + n),
                "type": "text", "text": {"body": "Hello! Is the shop open on Sunday?"},
            }],
        }}]}],
    }


def violation_webhook(waba_id: str, n: int) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "time": TIME0 + n, "changes": [{"field": "account_update", "value": {
            "event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": VIOLATIONS[n % len(VIOLATIONS)]},
        }}]}],
    }


def signed_request(app_id: str, secret: str, port: int, payload: dict[str, Any]) -> bytes:
    """The whole HTTP/1.1 request, made before the clock starts."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST /meta/webhooks/{app_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"User-Agent: facebookexternalua\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# -- the organization's receiver for forwarded entries (kind 3b) ----------------------------------


def write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a certificate for 127.0.0.1 signed by it: (ca, cert, key) PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Roost benchmark CA")])

    def certificate(subject: x509.Name, public_key: Any, is_ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        if is_ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    ca = certificate(ca_name, ca_key.public_key(), True)
    cert = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), key.public_key(), False)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


class HttpsReceiver:
    """The organization's messages_callback_url: HTTPS/1.1 on loopback (keep-alive), in a thread
    of this process; answers 200 at once and keeps what arrived (headers and body)."""

    def __init__(self, cert: Path, key: Path) -> None:
        import ssl
        import threading

        self.port = free_port()
        self.arrivals: list[tuple[bytes, bytes]] = []
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result()

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", self.port, ssl=self.context, backlog=512)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                self.arrivals.append(await read_http_message(reader))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/whatsapp/messages"

    def check_signatures(self, secret: str) -> int:
        """How many arrivals carry Meta's signature of their body with `secret` (all should)."""
        good = 0
        for head, body in list(self.arrivals):
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            good += f"x-hub-signature-256: {expected}".encode() in head.lower()
        return good


# -- the load: C keep-alive connections, each POST made beforehand -------------------------------


async def _connection(port: int, queue: list[bytes], latencies: list[float], answers: list[tuple[int, bytes]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            writer.write(request)
            head, body = await read_http_message(reader)
            latencies.append(time.perf_counter() - started)
            answers.append((int(head[9:12]), body))
    finally:
        writer.close()


async def _post_all(port: int, requests: list[bytes], connections: int) -> tuple[list[float], list[tuple[int, bytes]], float]:
    queue = list(reversed(requests))
    latencies: list[float] = []
    answers: list[tuple[int, bytes]] = []
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, queue, latencies, answers) for _ in range(min(connections, len(requests)))))
    return latencies, answers, time.perf_counter() - started


def post_all(port: int, requests: list[bytes], connections: int) -> tuple[list[float], list[tuple[int, bytes]], float]:
    return asyncio.run(_post_all(port, requests, connections))


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


# -- what the database holds ---------------------------------------------------------------------


def sql(database_url: str, statement: str, **params: Any) -> list[tuple]:
    from sqlalchemy import text

    from roost.db.engine import create_engine

    async def run() -> list[tuple]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                return [tuple(row) for row in (await connection.execute(text(statement), params)).all()]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def relay_counts(database_url: str, url: str) -> tuple[int, int, int]:
    """(relay rows to `url`, of which attempted at least once, of which delivered)."""
    ((rows, attempted, delivered),) = sql(
        database_url,
        "SELECT count(*), coalesce(sum(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END), 0) FROM meta_webhook_relays WHERE url = :url",
        url=url,
    )
    return int(rows), int(attempted), int(delivered)


# -- the setup: an organization, a connected profile, a coexistence one ----------------------------


def signup(api: httpx.Client, **body: Any) -> dict[str, Any]:
    """A signup played by the simulator (`simulate`), to a connected profile."""
    created = api.post(SESSIONS, json={"coexistence": True} if body.get("variant") == COEXISTENCE else {})
    created.raise_for_status()
    session = api.post(f"{SESSIONS}/{created.json()['id']}/simulate", json={"outcome": "completed", **body}, timeout=120)
    if session.status_code != 200 or session.json()["status"] != "completed":
        raise SystemExit(f"the signup did not complete: {session.status_code} {session.text[:2000]}")
    profile = api.get(f"{PROFILES}/{session.json()['business_profile_id']}")
    profile.raise_for_status()
    found = profile.json()
    if found["status"] != "connected" or found["coexistence"] is not (body.get("variant") == COEXISTENCE):
        raise SystemExit(f"unexpected profile: {found}")
    return found


def phone_of(profile: dict[str, Any]) -> tuple[str, str]:
    phone = profile["phone_numbers"][0]
    return phone["phone_number_id"], "".join(ch for ch in phone["display_phone_number"] if ch.isdigit())


# -- one database ----------------------------------------------------------------------------------


def measure_backend(name: str, database_url: str, args: argparse.Namespace, directory: Path, quiet: QuietWaiter) -> dict[str, Any]:
    ca, cert, key = write_certificates(directory)
    receiver = HttpsReceiver(cert, key)
    env = roost_env(database_url, new_key_text())
    # Loopback messages_callback_urls, and the receiver's throw-away CA trusted (as an operator would with SSL_CERT_FILE).
    env.update(ROOST_WEBHOOK_ALLOW_PRIVATE="1", ROOST_LOG_LEVEL="warning", SSL_CERT_FILE=str(ca))
    org = roost_cli(["orgs", "create", "Inbound benchmark", "--json"], env, directory)
    server = RoostServer(env, directory, directory / f"serve-{name}.log", args=("--no-worker",)).start()
    postgres = name == "postgres"
    results: dict[str, Any] = {"kinds": {}}
    try:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {org['admin_key']}"}, timeout=60) as api:
            app = api.get("/_sim/control/app").json()
            # The ordinary profile first: once messages_callback_url is set, a new ordinary WABA
            # gets it as its override, which Meta verifies with a handshake the closed port refuses.
            connected = signup(api)
            callback_url = f"https://127.0.0.1:{free_port()}/whatsapp/messages"  # nothing listens: each attempt fails at once
            patched = api.patch(SETTINGS, json={"messages_callback_url": callback_url})
            if patched.status_code != 200:
                raise SystemExit(f"messages_callback_url refused: {patched.text}")
            coexisting = signup(api, variant=COEXISTENCE)
        unknown_waba = str(10**15 + secrets.randbelow(10**15))
        wabas = {
            "unknown_waba": (unknown_waba, str(10**15 + secrets.randbelow(10**15)), "15550001111"),
            "connected_waba": (connected["waba_id"], *phone_of(connected)),
            "coexistence_forwarded": (coexisting["waba_id"], *phone_of(coexisting)),
            "coexistence_delivered": (coexisting["waba_id"], *phone_of(coexisting)),
        }
        callback_urls = {"coexistence_forwarded": callback_url, "coexistence_delivered": receiver.url}
        serial = iter(range(1, 10**9))
        first_violation = violation_webhook(connected["waba_id"], 0)  # the first of kind 4's warm-up

        def payloads(kind: str, count: int) -> list[dict[str, Any]]:
            if kind in wabas:
                return [message_webhook(*wabas[kind], next(serial)) for _ in range(count)]
            if kind == "account_update":
                return [violation_webhook(connected["waba_id"], next(serial)) for _ in range(count)]
            return [first_violation] * count  # delivered again, as Meta does when it missed our 200

        batches = {kind: [payloads(kind, args.warmup), payloads(kind, args.requests)] for kind in KINDS}
        batches["account_update"][0] = [first_violation, *batches["account_update"][0][1:]]

        for kind in KINDS:
            if kind == "coexistence_delivered":
                with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {org['admin_key']}"}, timeout=60) as api:
                    api.patch(SETTINGS, json={"messages_callback_url": receiver.url}).raise_for_status()
            results["kinds"][kind] = measure_kind(
                kind, database_url, server, app, batches[kind],
                args, quiet, postgres, callback_urls.get(kind, callback_url),
            )
            if kind == "coexistence_delivered":
                arrived, signed = len(receiver.arrivals), receiver.check_signatures(app["app_secret"])
                if arrived != args.warmup + args.requests or signed != arrived:
                    raise SystemExit(f"{name}: {arrived} forwarded entries arrived ({signed} correctly signed), "
                                     f"expected {args.warmup + args.requests}")
            print(f"  {name} {kind}: {summary(results['kinds'][kind])}", flush=True)

        # What the runs left: one change per distinct account_update, the last violation applied.
        ((changes,),) = sql(database_url, "SELECT count(*) FROM meta_webhook_changes WHERE field = 'account_update' AND event = 'ACCOUNT_VIOLATION'")
        expected_changes = args.warmup + args.requests
        if changes != expected_changes:
            raise SystemExit(f"{name}: {changes} ACCOUNT_VIOLATION changes stored, expected {expected_changes}")
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {org['admin_key']}"}, timeout=60) as api:
            health = api.get(f"{PROFILES}/{connected['id']}").json()["health"]
        latest = max(batch[-1]["entry"][0]["time"] for batch in batches["account_update"])  # the last applied, whatever the order
        if (health["violation"] or {}).get("at") != time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(latest)):
            raise SystemExit(f"{name}: the latest violation ({latest}) is not the profile's: {health}")
        results["stored_account_updates"] = changes
        results["memory_kib"] = server.memory()
    finally:
        server.stop()
    return results


def measure_kind(
    kind: str, database_url: str, server: RoostServer, app: dict[str, Any], batches: list[list[dict[str, Any]]],
    args: argparse.Namespace, quiet: QuietWaiter, postgres: bool, callback_url: str,
) -> dict[str, Any]:
    port = server.port
    warmup, measured = ([signed_request(app["app_id"], app["app_secret"], port, payload) for payload in batch] for batch in batches)
    forwarded = kind in FORWARDED
    relays0 = relay_counts(database_url, callback_url)[0] if forwarded else 0
    if warmup:
        _, answers, _ = post_all(port, warmup, args.connections)
        check(kind, answers)
        if forwarded:
            wait_for_relays(database_url, callback_url, relays0 + len(warmup))
    idle_before = quiet(patience=args.patience) if not args.no_wait else None
    load0 = os.getloadavg()[0]
    relays0 = relay_counts(database_url, callback_url)[0] if forwarded else 0
    sampler = start_py_spy(args.py_spy, server.pid, f"{'postgres' if postgres else 'sqlite'}-{kind}") if args.py_spy else None
    cpu0, pg0, machine0 = process_cpu_seconds(server.pid), postgres_cpu_seconds() if postgres else {}, machine_cpu()
    own0 = sum(os.times()[:2])  # this process: the load generator (and kind 3b's receiver)
    started = time.perf_counter()
    latencies, answers, seconds = post_all(port, measured, args.connections)
    pending = 0
    if forwarded:
        rows, attempted, _ = relay_counts(database_url, callback_url)
        pending = rows - attempted
        wait_for_relays(database_url, callback_url, relays0 + len(measured))
    elapsed = time.perf_counter() - started
    cpu1, machine1, own1 = process_cpu_seconds(server.pid), machine_cpu(), sum(os.times()[:2])
    if sampler is not None:
        sampler.send_signal(signal.SIGINT)
        sampler.wait(timeout=60)
    pg_seconds = sum(value - pg0.get(pid, 0.0) for pid, value in postgres_cpu_seconds().items()) if postgres else None
    check(kind, answers)
    ordered = sorted(latencies)
    ms = lambda value: round(value * 1000, 2)  # noqa: E731
    machine = 100 * (os.cpu_count() or 1) * (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
    result = {
        "requests": len(latencies), "connections": min(args.connections, len(measured)), "seconds": round(seconds, 3),
        "posts_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": ms(percentile(ordered, 0.50)), "p90_ms": ms(percentile(ordered, 0.90)),
        "p99_ms": ms(percentile(ordered, 0.99)), "max_ms": ms(ordered[-1]),
        "server_cpu_ms_per_post": round(1000 * (cpu1 - cpu0) / len(latencies), 3),
        "machine_cpu_percent": round(machine, 1), "load_average_before": round(load0, 2), "idle_check_cpu_percent": idle_before,
        "generator_cpu_percent": round(100 * (own1 - own0) / elapsed, 1),
    }
    # What no process of this benchmark used: another program's load during the measurement.
    known = 100 * ((cpu1 - cpu0) + (own1 - own0) + (pg_seconds or 0.0)) / elapsed
    result["other_cpu_percent"] = round(max(0.0, machine - known), 1)
    if pg_seconds is not None:
        result["postgres_cpu_ms_per_post"] = round(1000 * pg_seconds / len(latencies), 3)
    if forwarded:
        rows, _, delivered = relay_counts(database_url, callback_url)
        result["relay_rows_added"], result["relay_rows_delivered"] = rows - relays0, delivered
        result["relay_attempts_pending_at_last_answer"] = pending
        result["seconds_until_last_relay_attempt"] = round(elapsed, 3)
        if result["relay_rows_added"] != len(measured):
            raise SystemExit(f"{kind}: {result['relay_rows_added']} relay rows for {len(measured)} POSTs")
        if kind == "coexistence_delivered" and delivered != rows:
            raise SystemExit(f"{kind}: only {delivered} of {rows} relays delivered")
    return result


def start_py_spy(directory: Path, pid: int, name: str) -> subprocess.Popen:
    """py-spy sampling the server (without pausing it) until SIGINT: collapsed stacks, one file per kind."""
    directory.mkdir(parents=True, exist_ok=True)
    binary = Path(sys.executable).parent / "py-spy"
    process = subprocess.Popen(
        [str(binary if binary.exists() else "py-spy"), "record", "--pid", str(pid), "--rate", "250", "--nonblocking",
         "--format", "raw", "--output", str(directory / f"{name}.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    return process


def wait_for_relays(database_url: str, callback_url: str, count: int, timeout: float = 300) -> None:
    """Until `count` relay rows to the URL have had their first (failed) attempt."""
    deadline = time.monotonic() + timeout
    while True:
        rows, attempted, _ = relay_counts(database_url, callback_url)
        if rows >= count and attempted >= count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"only {attempted} of {count} relays attempted ({rows} rows)")
        time.sleep(0.05)


def check(kind: str, answers: list[tuple[int, bytes]]) -> None:
    expected = {"account_update": (1, 0), "account_update_duplicate": (0, 1)}.get(kind, (0, 0))
    for status, body in answers:
        answer = json.loads(body) if status == 200 else None
        if answer is None or (answer["stored"], answer["duplicates"]) != expected:
            raise SystemExit(f"{kind}: unexpected answer {status} {body[:500]!r} (expected stored, duplicates = {expected})")


def summary(result: dict[str, Any]) -> str:
    text = (f"{result['posts_per_second']:,.0f} POSTs/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
            f"server CPU {result['server_cpu_ms_per_post']} ms/POST")
    if "postgres_cpu_ms_per_post" in result:
        text += f", PostgreSQL CPU {result['postgres_cpu_ms_per_post']} ms/POST"
    return text


# -- the report ------------------------------------------------------------------------------------


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    lines = [f"Meta's webhooks into Roost: {args.requests:,} POSTs per kind, {args.connections} connections, "
             f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", ""]
    for kind in KINDS:
        lines += [f"### {kind}", "", "| | POSTs/s | p50 ms | p90 ms | p99 ms | max ms | server CPU ms/POST | PostgreSQL CPU ms/POST | load before |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for backend, result in results.items():
            r = result["kinds"][kind]
            lines.append(f"| {names[backend]} | {r['posts_per_second']:,.0f} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | "
                         f"{r['max_ms']} | {r['server_cpu_ms_per_post']} | {r.get('postgres_cpu_ms_per_post', '—')} | {r['load_average_before']} |")
        lines.append("")
    lines += ["### the machine: CPU (% of one core) used by other programs during each measurement, "
              "and before it (the idle check; 15 % or more: the wait for an idle machine ran out)", "",
              "| kind | " + " | ".join(f"{names[b]} during / before" for b in results) + " |", "|---|" + "---|" * len(results)]
    for kind in KINDS:
        lines.append(f"| {kind} | " + " | ".join(
            f"{r['kinds'][kind]['other_cpu_percent']} / {r['kinds'][kind]['idle_check_cpu_percent']}" for r in results.values()) + " |")
    lines += ["", "### ratios (same run): POSTs/s and server CPU per POST, against connected_waba", "",
              "| kind | " + " | ".join(f"{names[b]} POSTs/s | {names[b]} CPU/POST" for b in results) + " |",
              "|---|" + "---|---|" * len(results)]
    for kind in KINDS:
        cells = []
        for backend, result in results.items():
            base, r = result["kinds"]["connected_waba"], result["kinds"][kind]
            cells += [f"{r['posts_per_second'] / base['posts_per_second']:.2f}", f"{r['server_cpu_ms_per_post'] / base['server_cpu_ms_per_post']:.2f}"]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="POSTs measured per kind and database (2,000)")
    parser.add_argument("--warmup", type=int, default=200, help="POSTs of each kind before its measurement (200)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (8)")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-url", default=os.environ.get("ROOST_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a server where the benchmark may create and drop its own database")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for the machine to be idle before each kind")
    parser.add_argument("--patience", type=float, default=60, help="longest wait for an idle machine before each kind (s)")
    parser.add_argument("--py-spy", type=Path, metavar="DIR",
                        help="sample the server with py-spy (pip install py-spy) during each measurement: DIR/<database>-<kind>.txt, "
                             "collapsed stacks (the CPU figures then include py-spy's small cost)")
    parser.add_argument("--smoke", action="store_true", help="tiny counts, no waiting: only checks that the benchmark works")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.warmup, args.connections, args.no_wait = 12, 4, 4, True
    args.warmup = max(1, args.warmup)  # kind 4's first POST is the one kind 5 delivers again

    quiet = QuietWaiter(budget=0 if args.no_wait else 15 * 60)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="roost-inbound-bench-") as tmp:
        directory = Path(tmp)
        results["sqlite"] = measure_backend("sqlite", f"sqlite:///{directory / 'bench.db'}", args, directory, quiet)
        if not args.sqlite_only:
            database = f"roost_bench_inbound_{os.getpid()}"
            url = create_database(args.postgres_url, database)
            try:
                results["postgres"] = measure_backend("postgres", url, args, directory, quiet)
            finally:
                drop_database(args.postgres_url, database)
    text = report(results, args)
    print("\n" + text)
    out = args.out / "results"
    out.mkdir(parents=True, exist_ok=True)
    document = {"mode": "smoke" if args.smoke else "full", "requests": args.requests, "warmup": args.warmup,
                "connections": args.connections, "cores": os.cpu_count(), "databases": results}
    (out / "inbound.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
