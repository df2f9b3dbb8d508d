"""Verifying an API key: format first (no I/O), then one read, cached in-process briefly.

A verified key is cached for API_KEY_CACHE_SECONDS; revocations and tenant changes made in
this process drop it at once, others see them when the entry expires (5 s by default).
Creating a dispatch does not rely on this: its transaction checks the key item itself. Usage (lastUsedAt,
usageCount, firstUsedAt) and the requests a key made (key_requests) are written by a background
thread at most once per flush interval per key, never by the request.

Guessing is slowed: a hash no key has is remembered for API_KEY_UNKNOWN_CACHE_SECONDS (a
repeated forged key costs no read), and an address with API_AUTH_FAILURE_LIMIT failed
authentications inside API_AUTH_FAILURE_WINDOW_SECONDS is refused without any read until
the window ends. Both are per process.
"""

import logging
import secrets
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from outpost_admin.dynamo import NotFound, StoreError, utcnow

from . import key_requests, keys, storage
from .domain import TIER_LIMITS, ApiKey, KeyStatus, Limits, Scope, TenantStatus, Tier
from .key_requests import RECENT_REQUESTS, KeyRequest

logger = logging.getLogger(__name__)
MAX_CACHED = 10_000


@dataclass(frozen=True)
class Principal:
    key: ApiKey
    tenant_name: str
    tier: Tier
    tenant_status: TenantStatus

    @property
    def tenant_id(self) -> str:
        return self.key.tenant_id

    @property
    def limits(self) -> Limits:
        return TIER_LIMITS[self.tier]

    def allows(self, scope: Scope) -> bool:
        return self.key.allows(scope)


class KeyRefused(Exception):
    """The key cannot be used; the message says why and is safe to show the caller."""


class TooManyFailures(Exception):
    """This address failed to authenticate too often; it may try again in `wait` seconds."""

    def __init__(self, wait: float):
        super().__init__("Too many failed authentications from this address.")
        self.wait = wait


_cache: dict[str, tuple[Principal, float]] = {}
_unknown: dict[str, float] = {}  # key hash -> until when it is known to match no key
_lock = threading.Lock()


def authenticate(raw: str, *, address: str = "") -> Principal:
    failures.check(address)
    try:
        principal = _verify(raw)
    except KeyRefused:
        failures.record(address)
        raise
    usage.record(principal.key.api_key_id)
    return principal


def _verify(raw: str) -> Principal:
    if not keys.is_well_formed(raw):
        raise KeyRefused("The API key is malformed.")
    key_hash = keys.hash_key(raw)
    principal = _cached(key_hash)
    if principal is None:
        principal = _load_remembering_unknown(raw, key_hash)
        _remember(key_hash, principal)
    _check(principal)
    return principal


def _load_remembering_unknown(raw: str, key_hash: str) -> Principal:
    with _lock:
        unknown_until = _unknown.get(key_hash, 0.0)
    if unknown_until > time.monotonic():
        raise KeyRefused("The API key is not recognised.")
    try:
        return _load(raw, key_hash)
    except KeyRefused:
        with _lock:
            if len(_unknown) >= MAX_CACHED:
                _unknown.clear()
            _unknown[key_hash] = time.monotonic() + settings.API_KEY_UNKNOWN_CACHE_SECONDS
        raise


def _cached(key_hash: str) -> Principal | None:
    with _lock:
        entry = _cache.get(key_hash)
    if entry and entry[1] > time.monotonic():
        return entry[0]
    return None


def _remember(key_hash: str, principal: Principal) -> None:
    with _lock:
        if len(_cache) >= MAX_CACHED:
            _cache.clear()
        _cache[key_hash] = (principal, time.monotonic() + settings.API_KEY_CACHE_SECONDS)


def forget(*, key_hash: str | None = None, tenant_id: str | None = None) -> None:
    with _lock:
        for cached_hash, (principal, _) in list(_cache.items()):
            if cached_hash == key_hash or principal.tenant_id == tenant_id:
                del _cache[cached_hash]


def forget_all() -> None:
    with _lock:
        _cache.clear()
        _unknown.clear()
    failures.reset()


def _load(raw: str, key_hash: str) -> Principal:
    found = storage.key_by_hash(key_hash)
    if found is None:
        if keys.is_legacy(raw):
            return _legacy_principal(key_hash)
        raise KeyRefused("The API key is not recognised.")
    key, snapshot = found
    if not secrets.compare_digest(key.key_hash, key_hash):
        raise KeyRefused("The API key is not recognised.")
    if "tenantStatus" not in snapshot:  # made by the control plane: no copy of the tenant
        try:
            tenant = storage.tenant_get(key.tenant_id)
        except NotFound as exc:  # a key left behind by a deleted tenant
            raise KeyRefused("The API key is not recognised.") from exc
        return Principal(key, tenant.name, tenant.tier, tenant.status)
    return Principal(
        key,
        snapshot.get("tenantName", ""),
        Tier(snapshot.get("tenantTier", Tier.FREE)),
        TenantStatus(snapshot["tenantStatus"]),
    )


def _legacy_principal(key_hash: str) -> Principal:
    """The control plane's first scheme: the key's hash on the tenant item itself."""
    tenant = storage.tenant_by_legacy_hash(key_hash)
    if tenant is None:
        raise KeyRefused("The API key is not recognised.")
    key = ApiKey(
        api_key_id=f"legacy-{tenant.tenant_id}",
        tenant_id=tenant.tenant_id,
        name="legacy",
        key_prefix="",
        key_hash=key_hash,
        status=KeyStatus.ACTIVE,
        scopes=(Scope.DISPATCH, Scope.STATUS, Scope.LIST, Scope.CANCEL),
        created_at=tenant.created_at,
    )
    return Principal(key, tenant.name, tenant.tier, tenant.status)


def _check(principal: Principal) -> None:
    status = principal.key.effective_status(utcnow())
    if principal.key.suspended_with_tenant and status == KeyStatus.REVOKED:
        raise KeyRefused("The tenant is suspended.")
    if status == KeyStatus.REVOKED:
        raise KeyRefused("The API key has been revoked.")
    if status == KeyStatus.EXPIRED:
        raise KeyRefused("The API key has expired.")
    if principal.tenant_status == TenantStatus.SUSPENDED:
        raise KeyRefused("The tenant is suspended.")
    if principal.tenant_status != TenantStatus.ACTIVE:
        raise KeyRefused(f"The tenant is {principal.tenant_status}.")


class UsageRecorder:
    """Counts uses per key and buffers the requests made with it (the last RECENT_REQUESTS),
    and writes both at most once per flush interval per key, off the request: a key's first
    use is written at once, later ones when its interval ends (a timer) or at its next use
    after that, whichever comes first."""

    def __init__(self) -> None:
        self._pending: dict[str, int] = {}
        self._requests: dict[str, list[KeyRequest]] = {}
        self._tenants: dict[str, str] = {}
        self._flushed_at: dict[str, float] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def record(self, api_key_id: str) -> None:
        if api_key_id.startswith("legacy-"):
            return
        with self._lock:
            self._pending[api_key_id] = self._pending.get(api_key_id, 0) + 1
        self._due(api_key_id)

    def record_request(self, principal: Principal, request: KeyRequest) -> None:
        """A request this key made (its answer known): kept in memory until the key's flush."""
        api_key_id = principal.key.api_key_id
        if api_key_id.startswith("legacy-"):
            return
        with self._lock:
            if api_key_id not in self._requests and len(self._requests) >= MAX_CACHED:
                return  # a flood of keys: drop rather than grow without bound
            buffered = self._requests.setdefault(api_key_id, [])
            buffered.append(request)
            del buffered[:-RECENT_REQUESTS]
            self._tenants[api_key_id] = principal.tenant_id
        self._due(api_key_id)

    def _due(self, api_key_id: str) -> None:
        """Flush now if the key's interval has passed, else make sure a timer will."""
        now = time.monotonic()
        with self._lock:
            last = self._flushed_at.get(api_key_id)
            wait = 0.0 if last is None else last + settings.API_KEY_USAGE_FLUSH_SECONDS - now
            if wait > 0:
                if api_key_id not in self._timers:
                    timer = threading.Timer(wait, self._flush, args=(api_key_id,))
                    timer.daemon = True
                    self._timers[api_key_id] = timer
                    timer.start()
                return
            work = self._take(api_key_id, now)
            thread = threading.Thread(target=self._write, args=work, daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _take(self, api_key_id: str, now: float) -> tuple[str, str, int, list[KeyRequest]]:
        """What is buffered for the key, taken out (called with the lock held)."""
        self._flushed_at[api_key_id] = now
        timer = self._timers.pop(api_key_id, None)
        if timer is not None:
            timer.cancel()
        count = self._pending.pop(api_key_id, 0)
        requests = self._requests.pop(api_key_id, [])
        return api_key_id, self._tenants.pop(api_key_id, ""), count, requests

    def _flush(self, api_key_id: str) -> None:
        with self._lock:
            if self._timers.get(api_key_id) is None:
                return  # flushed meanwhile, or reset
            work = self._take(api_key_id, time.monotonic())
        self._write(*work)

    def _write(
        self, api_key_id: str, tenant_id: str, count: int, requests: list[KeyRequest]
    ) -> None:
        try:
            if count:
                storage.key_record_usage(api_key_id, count=count, last_used_at=utcnow())
            if requests and tenant_id:
                key_requests.requests_add(tenant_id, api_key_id, requests)
        except (StoreError, Exception) as exc:  # usage is best effort; never fail a request
            logger.warning("could not record usage of key %s: %s", api_key_id, exc)

    def flush_all(self) -> None:
        """Write everything buffered now (tests; a process about to stop)."""
        with self._lock:
            keys = list(self._timers)
        for api_key_id in keys:
            self._flush(api_key_id)
        self.wait()

    def wait(self) -> None:
        for thread in list(self._threads):
            thread.join(timeout=10)

    def reset(self) -> None:
        self.wait()
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            self._pending.clear()
            self._requests.clear()
            self._tenants.clear()
            self._flushed_at.clear()


usage = UsageRecorder()


class FailureThrottle:
    """Failed authentications per address in fixed windows; at the limit, refuse until the
    window ends. In memory, per process: it costs no call and survives no restart."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}  # address -> (window start, failures)
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        with self._lock:
            start, count = self._windows.get(address, (0.0, 0))
        wait = start + settings.API_AUTH_FAILURE_WINDOW_SECONDS - time.monotonic()
        if count >= settings.API_AUTH_FAILURE_LIMIT and wait > 0:
            raise TooManyFailures(wait)

    def record(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(address, (now, 0))
            if now - start >= settings.API_AUTH_FAILURE_WINDOW_SECONDS:
                start, count = now, 0
            if len(self._windows) >= MAX_CACHED:
                self._windows.clear()
            self._windows[address] = (start, count + 1)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


failures = FailureThrottle()
