"""The delivery loop the workers run (fleet/worker.py starts it in a thread of its own).

Each pass visits the 16 shards from a random one: it fans out what the lifecycle recorded
(a claim's started marker on the dispatch, a terminal event item) into one delivery per
endpoint that wants it (plus the dispatch's callbackUrl), in one transaction that also
consumes the outbox entry; then it claims due deliveries (a lease on each) and hands them to
a bounded pool of threads. A delivery is claimed only when a thread is free, its endpoint
has fewer than OUTPOST_WEBHOOK_ENDPOINT_CONCURRENCY in flight here and has sent fewer than
OUTPOST_WEBHOOK_ENDPOINT_RATE in the last second, here and across every worker (`caps`):
a slow or dead receiver holds at most its own share of the threads, never a dispatch nor
another endpoint's deliveries. Receivers get 15 s; a 2xx is delivered, anything else (a
redirect too) is retried on Svix's schedule.
"""

import logging
import random
import threading
import time
import uuid
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from dispatches import outbox
from dispatches import selectors as dispatch_selectors
from dispatches.domain import Dispatch
from outpost_admin.dynamo import NotFound, StoreError, TransactionConflict, transact, utcnow

from . import caps, delivery_storage, notifications, payloads, sending, signing, storage
from .domain import CALLBACK, TERMINAL_EVENTS, Attempt, Delivery, DeliveryStatus, Secret

logger = logging.getLogger(__name__)


def next_attempt(done: int, now: datetime) -> datetime | None:
    """When attempt `done + 1` of a round is due (with up to 10% jitter), or None: given up."""
    delays = settings.OUTPOST_WEBHOOK_RETRY_DELAYS
    if done >= len(delays):
        return None
    delay = delays[done] * random.uniform(1.0, 1.1)  # noqa: S311 - jitter, not a secret
    return now + timedelta(seconds=delay)


# --- fan-out ------------------------------------------------------------------------------


def fan_out(pending: outbox.Pending, *, now: datetime) -> list[Delivery]:
    """One delivery per endpoint that wants the event (and the callbackUrl's), created in the
    transaction that consumes the outbox entry: a second fan-out of it fails, so none is
    doubled, and one that dies before committing leaves the entry due. The failure e-mail's
    streak counts in the same transaction."""
    config = storage.config_get(pending.tenant_id)
    try:
        dispatch = dispatch_selectors.dispatch_get(tenant_id=None, dispatch_id=pending.dispatch_id)
    except NotFound:
        dispatch = None  # deleted (TTL): nothing to tell
    deliveries = _targets(pending, dispatch, config) if dispatch else []
    actions = [outbox.consumed(pending)]
    actions += [delivery_storage.delivery_put(d, now=now) for d in deliveries]
    if any(d.endpoint_id == CALLBACK for d in deliveries) and not config.callback_secrets:
        first = (Secret(signing.new_secret(), now),)
        actions.append(storage.callback_secret_save(pending.tenant_id, first, fresh=True))
    counted = pending.type in TERMINAL_EVENTS and pending.type != "dispatch.cancelled"
    if counted and config.notify.streak:
        failed = pending.type != "dispatch.succeeded"
        actions.append(storage.notify_count(pending.tenant_id, failed=failed))
    try:
        transact(actions)
    except TransactionConflict as exc:
        if exc.failed("consumed"):
            return []  # another worker fanned it out
        raise
    if counted and dispatch:
        notifications.after_outcome(
            tenant_id=pending.tenant_id,
            settings_=config.notify,
            dispatch_id=pending.dispatch_id,
            event_type=pending.type,
            reason=dispatch.status_reason or dispatch.error_message,
            now=now,
        )
    return deliveries


def _targets(pending: outbox.Pending, dispatch: Dispatch, config: storage.Config) -> list[Delivery]:
    data = payloads.dispatch_data(dispatch, event_type=pending.type)
    body = payloads.body(event_type=pending.type, occurred_at=pending.occurred_at, data=data)
    wanted = [(e.endpoint_id, "") for e in config.endpoints if e.enabled and e.wants(pending.type)]
    if pending.type in TERMINAL_EVENTS and dispatch.callback_url:
        wanted.append((CALLBACK, dispatch.callback_url))
    return [
        Delivery(
            tenant_id=pending.tenant_id,
            endpoint_id=endpoint_id,
            event_id=pending.event_id,
            event_type=pending.type,
            dispatch_id=pending.dispatch_id,
            status=DeliveryStatus.PENDING,
            created_at=pending.occurred_at,
            url=url,
            body=body,
        )
        for endpoint_id, url in wanted
    ]


# --- one attempt ----------------------------------------------------------------------------


def attempt(delivery: Delivery, *, lease: str) -> Attempt | None:
    """Send a claimed delivery once and record the outcome (None: it could not be sent at
    all, its endpoint being disabled or gone)."""
    now = utcnow()
    target = _target(delivery, now)
    if isinstance(target, str):
        delivery_storage.delivery_give_up(delivery, lease=lease, reason=target, now=now)
        return None
    url, secrets, endpoint = target
    headers = signing.headers(msg_id=delivery.event_id, at=now, body=delivery.body, signing=secrets)
    try:
        response = sending.post(url, body=delivery.body, headers=headers)
    except sending.Refused as exc:
        response = sending.Response(None, 0, error=f"Refused: {exc}")
    result = Attempt(
        number=delivery.attempts + 1,
        at=now,
        status_code=response.status_code,
        latency_ms=response.latency_ms,
        ok=response.ok,
        error=response.error
        or ("" if response.ok else f"HTTP {response.status_code}: not a 2xx answer."),
        excerpt=response.excerpt,
    )
    done = utcnow()
    next_at = None if result.ok else next_attempt(delivery.round_attempts + 1, done)
    delivery_storage.attempt_record(delivery, result, lease=lease, next_at=next_at, now=done)
    if endpoint is not None:
        _endpoint_health(endpoint, ok=result.ok, now=done)
    return result


def _target(delivery: Delivery, now: datetime) -> str | tuple[str, list[str], object]:
    """(url, signing secrets, endpoint or None), or why it cannot be sent."""
    if delivery.endpoint_id == CALLBACK:
        secrets = storage.config_get(delivery.tenant_id).callback_secrets
        live = [s.value for s in secrets if s.expires_at is None or s.expires_at > now]
        return (delivery.url, live, None) if live else "The tenant has no callback secret."
    try:
        endpoint = storage.endpoint_get(delivery.tenant_id, delivery.endpoint_id)
    except NotFound:
        return "The endpoint was deleted."
    if not endpoint.enabled:
        return "The endpoint is disabled."
    return endpoint.url, endpoint.signing_secrets(now), endpoint


def _endpoint_health(endpoint: object, *, ok: bool, now: datetime) -> None:
    assert isinstance(endpoint, storage.Endpoint)
    if ok:
        if endpoint.failing_since:
            storage.endpoint_mark_healthy(endpoint)
        return
    if endpoint.failing_since is None:
        storage.endpoint_mark_failing(endpoint, since=now)
        return
    failing = (now - endpoint.failing_since).total_seconds()
    if failing >= settings.OUTPOST_WEBHOOK_DISABLE_AFTER_SECONDS:
        days = settings.OUTPOST_WEBHOOK_DISABLE_AFTER_SECONDS / 86400
        reason = f"Every delivery failed for {days:g} days."
        if storage.endpoint_disable(endpoint, reason=reason, now=now):
            notifications.endpoint_disabled(endpoint)


# --- the loop -----------------------------------------------------------------------------


@dataclass
class _Caps:
    """This process's per-endpoint caps: deliveries in flight, sends in the last second."""

    running: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sent: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def allows(self, key: str) -> bool:
        recent = self.sent[key]
        while recent and recent[0] < time.monotonic() - 1:
            recent.popleft()
        return (
            self.running[key] < settings.OUTPOST_WEBHOOK_ENDPOINT_CONCURRENCY
            and len(recent) < settings.OUTPOST_WEBHOOK_ENDPOINT_RATE
        )

    def take(self, key: str) -> None:
        self.running[key] += 1
        self.sent[key].append(time.monotonic())

    def give_back(self, key: str) -> None:
        self.running[key] -= 1


class Deliverer:
    """Fans out and delivers, `threads` at a time. `tenant_id`: one tenant's only (tests)."""

    def __init__(self, *, threads: int | None = None, tenant_id: str | None = None):
        self.threads = threads or settings.OUTPOST_WEBHOOK_THREADS
        self.tenant_id = tenant_id
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="webhook")
        self.caps = _Caps()
        self.full: set[str] = set()  # endpoints whose shared caps refused during this pass
        self.in_flight = 0
        self.attempts = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def run(self, stop: threading.Event, *, every: float | None = None) -> None:
        """Pass after pass until `stop`; an idle pass waits `every` seconds before the next."""
        wait = every if every is not None else settings.OUTPOST_WEBHOOK_POLL_SECONDS
        while not stop.is_set():
            try:
                busy = self.run_pass()
            except Exception:  # never let the thread die; the next pass tries again
                logger.exception("webhook delivery pass failed")
                busy = 0
            if not busy:
                stop.wait(wait)
        self.close()

    def run_pass(self) -> int:
        """One visit of every shard; returns how much it fanned out and handed to threads."""
        work = 0
        self.full.clear()
        for shard in outbox.shard_order():
            work += self._shard(shard)
        return work

    def _shard(self, shard: str) -> int:
        now, work = utcnow(), 0
        for pending in outbox.started_due(shard, now=now):
            if self._ours(pending.tenant_id):
                work += self._fan_out(pending, now)
        for item in delivery_storage.due(shard, now=now):
            if not self._ours(item["tenant_id"]):
                continue
            if item.get("kind") == "event":
                work += self._fan_out(outbox.event_from_item(item), now)
            elif item.get("kind") == "delivery":
                work += self._hand_over(item, now)
        return work

    def _ours(self, tenant_id: str) -> bool:
        return self.tenant_id is None or tenant_id == self.tenant_id

    def _fan_out(self, pending: outbox.Pending, now: datetime) -> int:
        try:
            fan_out(pending, now=now)
        except StoreError as exc:
            logger.warning("could not fan out %s: %s", pending.event_id, exc)
            return 0
        return 1

    def _hand_over(self, item: dict, now: datetime) -> int:
        tenant_id, endpoint_id = item["tenant_id"], item.get("endpoint_id", "")
        key = f"{tenant_id}/{endpoint_id}"
        with self._lock:
            if self.in_flight >= self.threads or key in self.full or not self.caps.allows(key):
                return 0  # left due: a free thread, or the endpoint's turn, comes later
            self.in_flight += 1
            self.caps.take(key)
        holder, slot, claimed = uuid.uuid4().hex, None, None
        try:
            slot = self._shared_turn(tenant_id, endpoint_id, holder, now)
            if slot is None:
                self.full.add(key)
            else:
                claimed = delivery_storage.delivery_claim(item, now=now)
        finally:
            if claimed is None:
                self._done(key, tenant_id, slot, holder)
        if claimed is None:
            return 0
        lease = delivery_storage.lease_of(now)
        self.pool.submit(self._send, claimed, lease, (key, tenant_id, slot, holder))
        return 1

    def _shared_turn(
        self, tenant_id: str, endpoint_id: str, holder: str, now: datetime
    ) -> str | None:
        """The endpoint's turn across every worker: a send in its rate and a slot."""
        if not caps.rate_take(tenant_id, endpoint_id, now=now):
            return None
        until = now + timedelta(seconds=settings.OUTPOST_WEBHOOK_LEASE_SECONDS)
        return caps.slot_take(tenant_id, endpoint_id, holder=holder, now=now, until=until)

    def _send(self, delivery: Delivery, lease: str, turn: tuple[str, str, str | None, str]) -> None:
        try:
            attempt(delivery, lease=lease)
            with self._lock:
                self.attempts += 1
        except Exception:
            logger.exception("webhook delivery %s failed", delivery.event_id)
        finally:
            self._done(*turn)

    def _done(self, key: str, tenant_id: str, slot: str | None, holder: str) -> None:
        if slot is not None:
            try:
                caps.slot_give_back(tenant_id, slot, holder=holder)
            except StoreError:
                logger.warning("could not free %s; it frees itself when its lease ends", slot)
        with self._lock:
            self.in_flight -= 1
            self.caps.give_back(key)
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 30) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: self.in_flight == 0, timeout)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)
