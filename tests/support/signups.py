"""Sessions played through `simulate`, faults, profiles and the simulated app: what the Meta,
profiles, recovery and webhooks tests share (tests/meta/helpers.py re-exports it)."""

import datetime
import hashlib
import ipaddress
import secrets
import ssl
from pathlib import Path
from typing import Any

import httpx

from tests.support import SESSIONS
from tests.support.polling import wait_until
from tests.support.receiver import LoopbackReceiver, Request

PROFILES = "/v1/organization/whatsapp/business-profiles"
PHONES = "/v1/organization/whatsapp/phone-numbers"
FAULTS = "/_sim/control/faults"
SETTINGS = "/v1/organization/settings"
GRAPH_VERSION = "v25.0"
STEPS = ["token_exchange", "resolve_assets", "subscribe_app", "share_credit_line", "create_profile", "register_phone"]


def new_session(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post(SESSIONS, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def simulate(api: httpx.Client, session_id: str, **body: Any) -> httpx.Response:
    return api.post(f"{SESSIONS}/{session_id}/simulate", json=body)


def play(api: httpx.Client, outcome: str = "completed", session: dict[str, Any] | None = None, **body: Any) -> dict[str, Any]:
    """A new session (unless given) played to `outcome`, once its provisioning has settled.

    simulate answers when its own run of the steps ends; a worker that took a step over in the
    meantime may still be finishing it, so wait for that."""
    session = session or new_session(api)
    response = simulate(api, session["id"], outcome=outcome, **body)
    assert response.status_code == 200, response.text
    if settled(response.json()):
        return response.json()
    return wait_until(lambda: (lambda current: current if settled(current) else None)(get_session(api, session["id"])))


def settled(session: dict[str, Any]) -> bool:
    """No step running, and none left to run now (a step waiting out a back-off has an error)."""
    records = session["provisioning"]
    if any(record["status"] == "running" for record in records):
        return False
    waiting = [record for record in records if record["status"] == "pending"]
    backing_off = any(record["error"] for record in waiting)
    return not waiting or backing_off or session["status"] not in ("pending", "completed")


def get_session(api: httpx.Client, session_id: str) -> dict[str, Any]:
    response = api.get(f"{SESSIONS}/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()


def events(api: httpx.Client, session_id: str, type_: str | None = None) -> list[dict[str, Any]]:
    response = api.get(f"{SESSIONS}/{session_id}/events")
    assert response.status_code == 200, response.text
    return [event for event in response.json()["data"] if type_ is None or event["type"] == type_]


def step_events(api: httpx.Client, session_id: str) -> list[tuple[str, str]]:
    """(step, status) of each session-level `provisioning.step` event, oldest first."""
    return [
        (event["data"]["step"], event["data"]["status"])
        for event in events(api, session_id, "provisioning.step")
        if "phone_number_id" not in event["data"]
    ]


def steps(session: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {record["step"]: record for record in session["provisioning"]}


def statuses(session: dict[str, Any]) -> list[tuple[str, str]]:
    return [(record["step"], record["status"]) for record in session["provisioning"]]


def attempts(session: dict[str, Any]) -> dict[str, int]:
    return {record["step"]: record["attempts"] for record in session["provisioning"]}


def get_profile(api: httpx.Client, profile_id: str) -> dict[str, Any]:
    response = api.get(f"{PROFILES}/{profile_id}")
    assert response.status_code == 200, response.text
    return response.json()


def add_fault(api: httpx.Client, **fault: Any) -> dict[str, Any]:
    response = api.post(FAULTS, json=fault)
    assert response.status_code == 201, response.text
    return response.json()


def clear_faults(api: httpx.Client) -> None:
    assert api.delete(FAULTS).status_code == 200


def sim_signup(api: httpx.Client, **body: Any) -> dict[str, Any]:
    """A finished signup straight from the simulator (its code is unused)."""
    response = api.post("/_sim/control/signups", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def sim_app(api: httpx.Client) -> dict[str, Any]:
    response = api.get("/_sim/control/app")
    assert response.status_code == 200, response.text
    return response.json()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()



def wait_for_status(api: httpx.Client, session_id: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        session = get_session(api, session_id)
        return session if session["status"] == status else None

    return wait_until(reached, timeout)


# -- an HTTPS endpoint for Meta to call (messages_callback_url must be https) -------------------


class HttpsReceiver(LoopbackReceiver):
    """An HTTPS server on loopback that answers Meta's verification handshake."""

    def __init__(self, directory: Path) -> None:
        self.ca_file = directory / "ca.pem"
        cert_file, key_file = directory / "cert.pem", directory / "key.pem"
        _write_certificates(self.ca_file, cert_file, key_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        super().__init__("/whatsapp/messages", tls=context)

    @property
    def handshakes(self) -> list[dict[str, list[str]]]:
        return [request.query for request in self.requests if request.method == "GET"]

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, request.query.get("hub.challenge", [""])[0].encode()


def _write_certificates(ca_file: Path, cert_file: Path, key_file: Path) -> None:
    """A throw-away CA and a certificate for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Roost test CA")])
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def unused_phone_number() -> str:
    """A national number (with cc "1") no other test adds: the simulator refuses a number already
    on a WABA, and signups use 631555-01xx."""
    return f"6315{secrets.randbelow(10**8):08d}"
