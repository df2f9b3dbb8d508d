"""Webhook endpoints, deliveries and their attempts, failure-notification settings. No I/O."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from dispatches.outbox import EVENT_TYPES

# What an endpoint may subscribe to (Standard Webhooks' dotted names).
EVENT_NAMES = tuple(EVENT_TYPES.values())
TERMINAL_EVENTS = tuple(n for n in EVENT_NAMES if n != "dispatch.started")
TEST_EVENT = "webhook.test"
CALLBACK = "callback"  # the endpoint id of a dispatch's own callbackUrl deliveries
EXCERPT_MAX = 1024  # bytes of a response body kept with its attempt
MAX_ENDPOINTS = 10  # per tenant: a fan-out is one Query and one transaction


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due now or at next_attempt_at
    DELIVERED = "delivered"
    FAILED = "failed"  # the schedule ran out, or the endpoint is disabled or gone


DELIVERY_STATUSES = [s.value for s in DeliveryStatus]  # the API's enum (settings name it)


@dataclass(frozen=True)
class Secret:
    value: str  # whsec_<base64>
    created_at: datetime
    expires_at: datetime | None = None  # a rotated-out secret signs until then


@dataclass(frozen=True)
class Endpoint:
    tenant_id: str
    endpoint_id: str
    url: str
    description: str
    events: tuple[str, ...]
    enabled: bool
    secrets: tuple[Secret, ...]
    created_at: datetime
    updated_at: datetime
    version: int = 1
    failing_since: datetime | None = None  # first failed attempt since the last success
    disabled_reason: str = ""

    def wants(self, event_type: str) -> bool:
        return event_type in self.events

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign now: the newest, and a rotated one until its grace ends."""
        return [s.value for s in self.secrets if s.expires_at is None or s.expires_at > now]


@dataclass(frozen=True)
class Delivery:
    tenant_id: str
    endpoint_id: str
    event_id: str  # the webhook-id of every attempt
    event_type: str
    dispatch_id: str
    status: DeliveryStatus
    created_at: datetime
    attempts: int = 0
    round_attempts: int = 0  # attempts since the schedule last started (a resend restarts it)
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str = ""
    last_attempt_at: datetime | None = None
    url: str = ""  # a callback's URL (an endpoint's is on the endpoint)
    body: str = ""  # the JSON body every attempt sends


@dataclass(frozen=True)
class Attempt:
    number: int
    at: datetime
    status_code: int | None
    latency_ms: int
    ok: bool
    error: str = ""
    excerpt: str = ""


@dataclass(frozen=True)
class NotifySettings:
    """Per tenant: e-mail its users when a dispatch fails or times out, and/or when `streak`
    fail in a row; at most one message per cooldown."""

    on_failure: bool = False
    streak: int = 0  # 0: off
    cooldown_seconds: int = 3600
    failures_in_row: int = 0
    last_sent_at: datetime | None = None
    recipients: tuple[str, ...] = field(default_factory=tuple)  # empty: the tenant's users


class WebhookError(Exception):
    """A request the webhooks app refuses; `field` names the input at fault."""

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.field = field


class EndpointLimit(WebhookError):
    """The tenant has as many endpoints as it may: a conflict with the state, not bad input."""
