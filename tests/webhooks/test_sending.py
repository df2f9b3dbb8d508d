"""Safe to point anywhere: every refusal, checked at send time, before any connection."""

import socket

import pytest

from webhooks import sending
from webhooks.sending import Refused

from .receiver import Receiver


@pytest.fixture
def public_only(settings):
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = False


def resolving_to(monkeypatch, *addresses):
    """The host name resolves to these addresses (a stand-in DNS); connections are recorded."""
    connected = []

    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    def create_connection(address, *args, **kwargs):
        connected.append(address)
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return connected


def send(url="https://hooks.example.com/in"):
    return sending.post(url, body="{}", headers={})


def test_plain_http_is_refused_where_private_addresses_are_not_allowed(public_only):
    with pytest.raises(Refused, match="https"):
        send("http://hooks.example.com/in")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not a public"),
        ("::ffff:127.0.0.1", "loopback"),
    ],
)
def test_a_host_resolving_to_a_non_public_address_is_refused_without_connecting(
    public_only, monkeypatch, address, kind
):
    connected = resolving_to(monkeypatch, address)
    with pytest.raises(Refused, match=kind):
        send()
    assert connected == []


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"])
def test_metadata_addresses_are_refused_even_where_private_ones_are_allowed(
    settings, monkeypatch, address
):
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = True
    connected = resolving_to(monkeypatch, address)
    with pytest.raises(Refused, match="metadata"):
        send()
    assert connected == []


def test_one_private_answer_among_public_ones_refuses_the_host(public_only, monkeypatch):
    connected = resolving_to(monkeypatch, "93.184.216.34", "10.0.0.1")
    with pytest.raises(Refused, match="private"):
        send()
    assert connected == []


def test_the_connection_goes_to_the_address_that_was_checked(public_only, monkeypatch):
    """No second lookup: a rebinding DNS cannot swap the address after the check."""
    connected = resolving_to(monkeypatch, "93.184.216.34")
    response = send("https://hooks.example.com:8443/in")
    assert connected == [("93.184.216.34", 8443)]
    assert response.status_code is None and "ConnectionRefused" in response.error


def test_a_name_that_does_not_resolve_is_refused(public_only):
    with pytest.raises(Refused, match="does not resolve"):
        send("https://no-such-host.invalid/in")


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "https://user:pw@example.com/x", "https:///x", "not a url"]
)
def test_urls_of_the_wrong_shape_are_refused(public_only, url):
    with pytest.raises(Refused):
        send(url)


def test_a_redirect_is_not_followed_and_counts_as_a_failure(settings):
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = True
    target = Receiver().start()
    redirecting = Receiver(answers=[302], location=target.url).start()
    try:
        response = send(redirecting.url)
        assert response.status_code == 302 and not response.ok
        assert target.requests == []
    finally:
        target.stop()
        redirecting.stop()


def test_the_response_body_is_read_only_up_to_1_kb(settings):
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = True
    big = Receiver(body=b"x" * 1_000_000).start()
    try:
        response = send(big.url)
        assert response.ok and response.excerpt == "x" * 1024
    finally:
        big.stop()


def test_a_receiver_slower_than_the_timeout_is_a_failure(settings):
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = True
    settings.OUTPOST_WEBHOOK_TIMEOUT_SECONDS = 0.5
    slow = Receiver(delay=2).start()
    try:
        response = send(slow.url)
        assert response.status_code is None and response.error == "Timed out."
        assert response.latency_ms < 1500
    finally:
        slow.stop()
