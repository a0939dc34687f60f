"""Where outbound webhooks may connect (SPEC 7.1): the address rule, and the guarded client —
it connects to an address it checked while TLS still verifies the endpoint's host name."""

import asyncio
import datetime
import ipaddress
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from roost.kit.network import AddressNotAllowed, address_refusal, guarded_client, literal_address
from roost.webhooks.service import url_problem


@pytest.mark.parametrize(
    "address, refusal",
    [
        ("127.0.0.1", "a loopback address"), ("::1", "a loopback address"), ("::ffff:127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private address"), ("172.16.5.4", "a private address"), ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"), ("169.254.169.254", "a link-local address"), ("fe80::1", "a link-local address"),
        ("0.0.0.0", "an unspecified address"), ("::", "an unspecified address"), ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"), ("100.64.0.1", "a reserved address"), ("240.0.0.1", "a reserved address"),
        ("8.8.8.8", None), ("2606:4700:4700::1111", None), ("::ffff:8.8.8.8", None),
    ],
)
def test_only_public_unicast_addresses_are_allowed(address, refusal):
    assert address_refusal(ipaddress.ip_address(address)) == refusal


def test_url_rules():
    assert url_problem("https://hooks.example.com/x", allow_private=False) is None
    assert url_problem("https://8.8.8.8/x", allow_private=False) is None
    assert "link-local" in url_problem("https://169.254.169.254/x", allow_private=False)
    assert "loopback" in url_problem("https://[::ffff:127.0.0.1]/x", allow_private=False)
    assert url_problem("https://169.254.169.254/x", allow_private=True) is None
    assert url_problem("http://192.168.1.10:8080/x", allow_private=True) is None
    assert url_problem("http://app.localhost/x", allow_private=True) is None
    assert url_problem("http://8.8.8.8/x", allow_private=True).startswith("must use https://")
    assert url_problem("https://" + "a" * 2048, allow_private=False) == "must be 1 to 2048 characters"
    assert url_problem("https://exa mple.com/", allow_private=False) == "must not contain spaces or control characters"
    assert url_problem("https:hooks.example.com", allow_private=False).startswith("must be an absolute https:// URL")
    assert url_problem("https://hooks.example.com:0/x", allow_private=False).startswith("must be a valid URL")
    assert url_problem("https://hooks.example.com:/x", allow_private=False).startswith("must be a valid URL")


@pytest.mark.parametrize(
    "host, address",
    [("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
     ("10.1", "10.0.0.1"), ("0xA9.0xFE.0xA9.0xFE", "169.254.169.254")],
)
def test_the_old_spellings_of_ipv4_addresses_are_read_as_the_resolver_reads_them(host, address):
    # getaddrinfo connects "https://127.1" to 127.0.0.1: the saved-URL check must see it so too.
    assert literal_address(host) == ipaddress.ip_address(address)
    assert url_problem(f"https://{host}/x", allow_private=False).startswith("must not point at a")


@pytest.mark.parametrize("host", ["hooks.example.com", "cafe.be", "1.example", "example"])
def test_host_names_are_not_addresses(host):
    assert literal_address(host) is None


class TlsServer:
    """HTTPS on 127.0.0.1 with a certificate for the name `localhost` only; notes the SNI it gets."""

    def __init__(self, directory: Path) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Webhook test CA")])
        ca = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        cert = (
            x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / "key.pem").write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        self.client_context = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
        self.names: list[str | None] = []
        self.hosts: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                server.hosts.append(self.headers["Host"])
                self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
        context.sni_callback = lambda _socket, name, _context: self.names.append(name)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tls_server(tmp_path):
    server = TlsServer(tmp_path)
    yield server
    server.close()


def post(url: str, *, allow_private: bool, context: ssl.SSLContext) -> httpx.Response:
    async def main() -> httpx.Response:
        async with guarded_client(allow_private=allow_private, timeout=5, max_connections=2, ssl_context=context) as client:
            return await client.post(url, content=b"{}")

    return asyncio.run(main())


def test_tls_keeps_the_host_name_while_connecting_to_the_checked_address(tls_server):
    response = post(f"https://localhost:{tls_server.port}/hook", allow_private=True, context=tls_server.client_context)
    assert response.status_code == 204
    assert tls_server.names == ["localhost"]  # SNI is the endpoint's name, not the address
    assert tls_server.hosts == [f"localhost:{tls_server.port}"]
    # The certificate is checked against the URL's host: it names localhost, not 127.0.0.1.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED|match"):
        post(f"https://127.0.0.1:{tls_server.port}/hook", allow_private=True, context=tls_server.client_context)


def test_the_guarded_client_refuses_names_that_resolve_to_private_addresses(tls_server):
    with pytest.raises(AddressNotAllowed, match=r"^localhost resolves to (127\.0\.0\.1|::1), a loopback address"):
        post(f"https://localhost:{tls_server.port}/hook", allow_private=False, context=tls_server.client_context)
    with pytest.raises(AddressNotAllowed, match="127.0.0.1, a loopback address"):
        post(f"https://127.0.0.1:{tls_server.port}/hook", allow_private=False, context=tls_server.client_context)
    assert tls_server.names == [] and tls_server.hosts == []  # no connection was made
