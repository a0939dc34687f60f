"""Where outbound webhooks may connect (SPEC 7.1): no private, loopback or link-local address
unless the server allows it, checked on the address actually connected to.

The HTTP client resolves the host itself in `GuardedBackend.connect_tcp`, refuses the request if
any address is not allowed, and connects to an address it checked. The URL, the Host header and
the TLS server name (SNI, certificate check) stay the endpoint's host name, so a DNS answer that
changes between a check and the connection (DNS rebinding) cannot lead anywhere unchecked.
"""

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressNotAllowed(Exception):
    """The endpoint's host is, or resolves to, an address outbound webhooks may not reach."""


def address_refusal(address: Address) -> str | None:
    """Why `address` is not a public unicast address (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved address"  # shared (100.64/10), documentation, benchmarking ranges, …
    return None


def literal_address(host: str) -> Address | None:
    """The address a host written as a number stands for, as the resolver reads it: also the
    old IPv4 spellings (127.1, 0x7f000001, 2130706433, 0177.0.0.1), which getaddrinfo accepts."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def host_and_port(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL as the connection sees them (None if it has no host)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return (parts.hostname.lower(), port) if parts.hostname else None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the address check in front of every connection.

    `exempt`: (host, port) pairs reached whatever they resolve to — Roost's own public URL, for
    the simulator, whose callbacks go to the server it runs in."""

    def __init__(self, allow_private: bool, exempt: Iterable[tuple[str, int]] = ()) -> None:
        self.allow_private = allow_private
        self.exempt = frozenset(exempt)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except (OSError, TimeoutError) as problem:
            raise httpcore.ConnectError(f"could not resolve {host}: {problem}") from problem
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not self.allow_private and (host.lower().strip("[]"), port) not in self.exempt:
            for text in addresses:
                refusal = address_refusal(ipaddress.ip_address(text.split("%")[0]))
                if refusal:
                    raise AddressNotAllowed(
                        f"{host} resolves to {text}, {refusal}; outbound webhooks only reach public addresses "
                        "(ROOST_WEBHOOK_ALLOW_PRIVATE=1 allows others)"
                    )
        last: Exception | None = None
        for text in addresses:
            try:
                return await self._inner.connect_tcp(
                    text, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as problem:
                last = problem
        raise last or httpcore.ConnectError(f"{host} has no address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_client(
    *,
    allow_private: bool,
    timeout: float,
    max_connections: int,
    ssl_context: ssl.SSLContext | None = None,
    user_agent: str | None = "Roost-Webhooks/1",
    exempt_urls: Iterable[str] = (),
) -> httpx.AsyncClient:
    """The client webhook deliveries use: checked addresses, no redirects, no proxy settings from
    the environment (a proxy would connect on our behalf to an address we never checked).
    `exempt_urls`: URLs whose host and port are reached whatever address they resolve to."""
    exempt = [pair for pair in map(host_and_port, exempt_urls) if pair is not None]
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=max_connections))
    # httpx has no public switch for httpcore's network backend: replace its pool with one that
    # uses ours (same TLS context as httpx's default: certificates verified against the host name).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context or httpx.create_ssl_context(),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(allow_private, exempt),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False,
        **({"headers": {"User-Agent": user_agent}} if user_agent else {}),
    )
