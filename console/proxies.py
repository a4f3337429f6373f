"""Whose X-Forwarded-For and X-Forwarded-Proto are believed: only the trusted proxies' (decision 0010).

One ASGI middleware, outermost, rewrites the request's client address and scheme before
anything else reads them, so `request.client.host`, the access log, the sign-in throttle,
the Secure cookie flag and HSTS all see the same answer. A header sent by anyone else is
ignored: otherwise a guesser could claim a new address for every try, or pin the desk's
own address on their failures.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

Network = IPv4Network | IPv6Network


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def _header_values(scope: dict[str, Any], name: bytes) -> list[str]:
    values: list[str] = []
    for key, raw in scope.get("headers", []):
        if key.lower() == name:
            values.extend(part.strip() for part in raw.decode("latin-1").split(","))
    return [v for v in values if v]


def resolve(scope: dict[str, Any], networks: tuple[Network, ...]) -> tuple[str | None, str | None]:
    """Return (client address, scheme) as the trusted proxies report them; (None, None) = use the peer's own."""
    client = scope.get("client")
    if not networks or not client or not _trusted(client[0], networks):
        return None, None
    address: str | None = None
    # Read X-Forwarded-For from the right: every hop we trust appended the address it saw;
    # the first address that is not one of our proxies is the client. Anything to its left
    # was typed by that client and proves nothing.
    for hop in reversed(_header_values(scope, b"x-forwarded-for")):
        try:
            ip_address(hop)
        except ValueError:
            break  # garbage in the chain: stop believing it, keep what we have
        address = hop
        if not _trusted(hop, networks):
            break
    protos = _header_values(scope, b"x-forwarded-proto")
    # The nearest proxy's word counts (it overwrites or appends the header).
    scheme = protos[-1].lower() if protos and protos[-1].lower() in ("http", "https") else None
    return address, scheme


class TrustedProxies:
    """ASGI middleware: believe forwarded headers only from the configured proxies."""

    def __init__(self, app: Any, networks: tuple[Network, ...]) -> None:
        self.app = app
        self.networks = networks

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            address, scheme = resolve(scope, self.networks)
            # Changed in place: uvicorn's access line reads the same scope.
            if address is not None:
                scope["client"] = (address, 0)
            if scheme is not None:
                if scope["type"] == "websocket":
                    scheme = "wss" if scheme == "https" else "ws"
                scope["scheme"] = scheme
        await self.app(scope, receive, send)
