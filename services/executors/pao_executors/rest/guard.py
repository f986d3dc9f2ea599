"""No SSRF through a catalog item: which URLs the ``rest`` executor may call.

Every request (the first, every redirect hop, every poll) is checked before it is
sent, after resolving its host and looking at *every* address it resolves to:

1. the scheme is ``http`` or ``https``;
2. with ``PAO_REST_ALLOWED_HOSTS`` set, the host must match an entry: ``host``,
   ``host:port``, ``*.domain`` (any subdomain) or a CIDR that holds all its addresses;
3. no address may be loopback (127/8, ::1), link-local (169.254/16, fe80::/10),
   unspecified / "this network" (0.0.0.0/8, ::), multicast, or a cloud metadata
   address (169.254.169.254, fd00:ec2::254, 100.100.100.200, 168.63.129.16, ...),
   IPv4-mapped IPv6 forms included, unless ``PAO_REST_ALLOW_PRIVATE=1`` or the host
   is listed exactly (``host``, ``host:port`` or a CIDR; a ``*.domain`` wildcard
   does not unlock these).

Private networks (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: internal
platform APIs live there. Restrict them with the allowlist.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from pao_executors.rest.errors import RestCallError, UnsafeTarget

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer
        "192.0.0.192",  # Oracle Cloud
    )
)
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


def blocked_reason(address: IP) -> str | None:
    """Why ``address`` is refused by default, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return blocked_reason(address.ipv4_mapped)
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified or (
        isinstance(address, ipaddress.IPv4Address) and address in THIS_NETWORK
    ):
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class _Entry:
    host: str | None = None
    port: int | None = None
    suffix: str | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None


def _parse(entry: str) -> _Entry:
    if entry.startswith("*."):
        return _Entry(suffix=entry[1:])
    try:
        return _Entry(network=ipaddress.ip_network(entry, strict=False))
    except ValueError:
        pass
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and "]" not in port:
        return _Entry(host=host.strip("[]"), port=int(port))
    return _Entry(host=entry.strip("[]"))


class TargetGuard:
    """Checks every request against the rules above (an httpx ``request`` event hook)."""

    def __init__(
        self,
        allowed: list[str],
        *,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.entries = [_parse(e) for e in allowed]
        self.allow_private = allow_private
        self.resolver = resolver

    async def __call__(self, request: httpx.Request) -> None:
        await self.check(request.url)

    async def check(self, url: httpx.URL) -> list[IP]:
        """The addresses of ``url``'s host if it may be called; ``UnsafeTarget`` if not."""
        if url.scheme not in ("http", "https"):
            raise UnsafeTarget(f"refused {url.scheme}:// URL: only http and https are called")
        host = url.host.lower()
        if not host:
            raise UnsafeTarget("refused a URL without a host")
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await self._resolve(host, port)
        named = any(
            e.host == host and e.port in (None, port) for e in self.entries if e.host is not None
        )
        in_network = bool(addresses) and any(
            e.network is not None and all(a in e.network for a in addresses) for e in self.entries
        )
        by_suffix = any(e.suffix is not None and host.endswith(e.suffix) for e in self.entries)
        if self.entries and not (named or in_network or by_suffix):
            raise UnsafeTarget(f"refused {host}:{port}: not in PAO_REST_ALLOWED_HOSTS")
        if self.allow_private or named or in_network:
            return addresses
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None:
                raise UnsafeTarget(
                    f"refused {host}: it resolves to {address} ({reason}); allow it with "
                    "PAO_REST_ALLOWED_HOSTS or PAO_REST_ALLOW_PRIVATE=1"
                )
        return addresses

    async def _resolve(self, host: str, port: int) -> list[IP]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            found = await self.resolver(host, port)
        except OSError as exc:
            raise RestCallError(f"cannot resolve {host}: {exc}", retryable=True) from None
        if not found:
            raise RestCallError(f"cannot resolve {host}: no address", retryable=True)
        return [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
