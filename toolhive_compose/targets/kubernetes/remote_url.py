"""Whether the ToolHive operator accepts a remote server's URL for an ``MCPRemoteProxy``.

The operator's own rules (``ValidateRemoteURL``, ToolHive operator 0.44), without DNS: a
literal address in a loopback, link-local or unspecified range, and the host names
``localhost``, ``kubernetes.default[.svc[.cluster.local]]`` and ``metadata.google.internal``
(or any name under them) are always refused; private ranges (10/8, 172.16/12, 192.168/16,
fc00::/7) and names ending in ``cluster.local`` only with ``allowPrivateEndpoint: true``.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

Reach = Literal["public", "private", "refused"]

_REFUSED_NETS = tuple(
    ipaddress.ip_network(net)
    for net in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "::/128", "::1/128", "fe80::/10")
)
_PRIVATE_NETS = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_REFUSED_NAMES = (
    "localhost",
    "kubernetes.default.svc.cluster.local",
    "kubernetes.default.svc",
    "kubernetes.default",
    "metadata.google.internal",
)
_PRIVATE_NAMES = ("cluster.local",)


def reach(url: str) -> Reach:
    """``refused``, ``private`` (needs ``allowPrivateEndpoint``) or ``public``."""
    host = host_of(url)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return _reach_of_name(host.lower().rstrip("."))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in net for net in _REFUSED_NETS):
        return "refused"
    return "private" if any(address in net for net in _PRIVATE_NETS) else "public"


def host_of(url: str) -> str:
    """The host of an ``http(s)://`` URL (without brackets, user info or port)."""
    authority = url.partition("://")[2]
    for end in "/?#":
        authority = authority.partition(end)[0]
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):
        return authority[1:].partition("]")[0]
    return authority.partition(":")[0]


def _reach_of_name(host: str) -> Reach:
    if _under(host, _REFUSED_NAMES):
        return "refused"
    return "private" if _under(host, _PRIVATE_NAMES) else "public"


def _under(host: str, names: tuple[str, ...]) -> bool:
    return any(host == name or host.endswith("." + name) for name in names)
