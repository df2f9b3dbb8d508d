"""One HTTP POST to a receiver, safe to point anywhere (issue 15, point 6).

- The URL's shape is checked again (https; http only where private addresses are allowed).
- The host is resolved here, at send time, and every address it resolves to is checked:
  private, loopback, link-local, multicast, reserved, unspecified, shared (100.64/10) and
  cloud metadata addresses are refused (metadata ones even where private ones are allowed).
- The connection goes to the address that was checked (the socket is opened to that IP; TLS
  still verifies the certificate for the host name), so no second lookup can be rebound.
- Redirects are not followed (http.client follows none): a 3xx is a failure like any non-2xx.
- The response body is read up to EXCERPT_MAX bytes and the connection is closed.
- The whole exchange is bounded by the timeout (15 s), every socket operation by what is left.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from outpost_admin.webhook_urls import url_error

from .domain import EXCERPT_MAX

# Instance metadata services: AWS/GCP/Azure (169.254.169.254), AWS IPv6, Alibaba, Oracle.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
USER_AGENT = "Outpost-Webhooks/1.0"


class Refused(Exception):
    """The receiver may not be contacted: no attempt was made."""


@dataclass(frozen=True)
class Response:
    status_code: int | None  # None: no HTTP answer
    latency_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def address_refusal(address: str) -> str | None:
    """Why this resolved address may not receive webhooks, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return f"{ip} is a cloud metadata address."
    if settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE:
        return None
    for kind in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return f"{ip} is a {kind.replace('_', '-')} address."
    if not ip.is_global:
        return f"{ip} is not a public address."
    return None


def resolve(host: str, port: int) -> str:
    """The address to connect to: the first the host resolves to, if none is refused (one
    refused address refuses the host: a name mixing public and private answers is suspect)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"{host} does not resolve: {exc}") from exc
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        if refusal := address_refusal(address):
            raise Refused(refusal)
    if not addresses:
        raise Refused(f"{host} does not resolve.")
    return addresses[0]


class _Pinned:
    """Opens the connection to the checked address, whatever the host name resolves to now."""

    address: str
    deadline: float
    host: str
    port: int
    sock: socket.socket | None
    timeout: float | None

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), _left(self.deadline))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTP(_Pinned, http.client.HTTPConnection):
    pass


class _PinnedHTTPS(_Pinned, http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        context = ssl.create_default_context()
        assert self.sock is not None
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def post(url: str, *, body: str, headers: dict[str, str]) -> Response:
    """POST the body; raises Refused before any connection when the receiver is not allowed."""
    if error := url_error(url):
        raise Refused(error)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    assert parts.hostname
    address = resolve(parts.hostname, port)
    started = time.monotonic()
    deadline = started + settings.OUTPOST_WEBHOOK_TIMEOUT_SECONDS
    kind = _PinnedHTTPS if https else _PinnedHTTP
    connection = kind(parts.hostname, port, timeout=settings.OUTPOST_WEBHOOK_TIMEOUT_SECONDS)
    connection.address, connection.deadline = address, deadline
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = {
        **headers,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    try:
        connection.request("POST", path, body=body.encode(), headers=sent)
        if connection.sock is not None:
            connection.sock.settimeout(_left(deadline))
        answer = connection.getresponse()
        if connection.sock is not None:
            connection.sock.settimeout(_left(deadline))
        excerpt = answer.read(EXCERPT_MAX)
        status = answer.status
    except (OSError, http.client.HTTPException, TimeoutError) as exc:
        return Response(None, _ms(started), error=_describe(exc))
    finally:
        connection.close()
    text = excerpt.decode("utf-8", "replace")
    return Response(status, _ms(started), excerpt=text)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "Timed out."
    return f"{type(exc).__name__}: {exc}"[:300]
