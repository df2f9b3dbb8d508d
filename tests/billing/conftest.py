"""Billing's tests talk to a real localstripe (started once per session on a free port, as
DynamoDB Local is) for customers, subscriptions, invoices and webhook events. localstripe has
no billing meters: the meter tests put a small recorder in front of it (`meter_recorder`),
which answers POST /v1/billing/meter_events itself, as Stripe does (a second event with an
identifier it holds is refused with Stripe's 400), and passes every other request on."""

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from outpost_admin.dynamo import local

SECRET = "whsec_test_outpost"
API_KEY = "sk_test_outpost"


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    for _ in range(5):
        port = local.free_port()
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("localstripe_server.py")), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        if _answers(url, process):
            yield url
            process.terminate()
            process.wait(timeout=20)
            return
        process.terminate()
        process.wait(timeout=20)
    raise RuntimeError("could not start localstripe")


def _answers(url: str, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        request = urllib.request.Request(
            f"{url}/v1/customers", headers={"Authorization": f"Bearer {API_KEY}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2):
                return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    return False


def stripe_post(base: str, path: str, data: dict[str, str]) -> dict[str, Any]:
    """A call to localstripe as a test sets things up (prices, cards, webhooks)."""
    body = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in data.items()).encode()
    request = urllib.request.Request(
        f"{base}{path}",
        data=body,
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else {}


@pytest.fixture
def billing_on(settings, localstripe: str) -> str:
    """Billing on, against localstripe, with a price per paid tier (localstripe's plans)."""
    settings.OUTPOST_STRIPE_API_KEY = API_KEY
    settings.OUTPOST_STRIPE_API_BASE = localstripe
    settings.OUTPOST_STRIPE_WEBHOOK_SECRET = SECRET
    settings.OUTPOST_STRIPE_MAX_RETRIES = 0
    settings.OUTPOST_STRIPE_TIER_PRICES = {
        "starter": _price(localstripe, "starter", 1900),
        "pro": _price(localstripe, "pro", 9900),
    }
    settings.OUTPOST_STRIPE_METER_EVENTS = {"outpost_dispatch_cost": "cost_microdollars"}
    return localstripe


_PRICES: dict[tuple[str, str], str] = {}


def _price(base: str, tier: str, cents: int) -> str:
    if (base, tier) not in _PRICES:
        plan = stripe_post(
            base,
            "/v1/plans",
            {
                "amount": str(cents),
                "currency": "usd",
                "interval": "month",
                "product[name]": f"Outpost {tier}",
            },
        )
        _PRICES[(base, tier)] = plan["id"]
    return _PRICES[(base, tier)]


@dataclass
class MeterRecorder:
    url: str
    events: list[dict[str, Any]] = field(default_factory=list)  # what Stripe took
    refused: list[dict[str, Any]] = field(default_factory=list)  # duplicates it refused
    failing: bool = False  # answer 500 to every meter event (an outage)


@pytest.fixture
def meter_recorder(settings, billing_on: str) -> Iterator[MeterRecorder]:
    upstream = billing_on

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _relay(self, body: bytes | None) -> None:
            request = urllib.request.Request(
                upstream + self.path,
                data=body,
                method=self.command,
                headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status, payload = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, payload = exc.code, exc.read()
            self._answer(status, payload)

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._relay(None)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/v1/billing/meter_events":
                self._relay(body)
                return
            form = dict(parse_qsl(body.decode()))
            form["_authorization"] = self.headers.get("Authorization", "")
            if recorder.failing:
                self._answer(500, b'{"error": {"type": "api_error", "message": "down"}}')
                return
            if any(e["identifier"] == form.get("identifier") for e in recorder.events):
                recorder.refused.append(form)
                message = f"An event already exists with identifier {form['identifier']}."
                error = {"error": {"type": "invalid_request_error", "message": message}}
                self._answer(400, json.dumps(error).encode())
                return
            recorder.events.append(form)
            answer = {
                "object": "billing.meter_event",
                **{k: v for k, v in form.items() if not k.startswith("_")},
            }
            self._answer(200, json.dumps(answer).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder = MeterRecorder(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.OUTPOST_STRIPE_API_BASE = recorder.url
    yield recorder
    server.shutdown()
    server.server_close()


def customer_with_card(base: str, *, email: str, card: str = "4242424242424242") -> str:
    """A Stripe customer with a card, as the control plane (or a person, on Stripe's pages)
    would have made it: localstripe, unlike Stripe, refuses a subscription without one."""
    token = stripe_post(
        base,
        "/v1/tokens",
        {
            "card[number]": card,
            "card[exp_month]": "12",
            "card[exp_year]": "2040",
            "card[cvc]": "123",
        },
    )
    customer = stripe_post(base, "/v1/customers", {"email": email})
    stripe_post(base, f"/v1/customers/{customer['id']}/sources", {"source": token["id"]})
    return str(customer["id"])


def give_customer(tenant_id: str, customer_id: str) -> None:
    """Put `stripeCustomerId` on the tenant item, as the control plane does."""
    from outpost_admin.dynamo import call, values
    from outpost_admin.dynamo.tables import TENANTS
    from tenants.storage import tenant_key

    call(
        "update_item",
        TableName=TENANTS.name,
        Key=tenant_key(tenant_id),
        UpdateExpression="SET stripeCustomerId = :c",
        ExpressionAttributeValues=values({":c": customer_id}),
    )
