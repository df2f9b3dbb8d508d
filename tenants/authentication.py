"""Verifying an API key: format first (no I/O), then one read, cached in-process briefly.

A verified key is cached for API_KEY_CACHE_SECONDS; revocations and tenant changes made in
this process drop it at once, others see them when the entry expires (5 s by default).
Creating a dispatch does not rely on this: its transaction checks the key item itself. Usage (lastUsedAt,
usageCount) is written by a background thread at most once per flush interval per key.
"""

import logging
import secrets
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from outpost_admin.dynamo import NotFound, StoreError, utcnow

from . import keys, storage
from .domain import TIER_LIMITS, ApiKey, KeyStatus, Limits, Scope, TenantStatus, Tier

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


_cache: dict[str, tuple[Principal, float]] = {}
_lock = threading.Lock()


def authenticate(raw: str) -> Principal:
    if not keys.is_well_formed(raw):
        raise KeyRefused("The API key is malformed.")
    key_hash = keys.hash_key(raw)
    principal = _cached(key_hash)
    if principal is None:
        principal = _load(raw, key_hash)
        _remember(key_hash, principal)
    _check(principal)
    usage.record(principal.key.api_key_id)
    return principal


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
    """Counts uses per key and writes them at most once per flush interval, off the request."""

    def __init__(self) -> None:
        self._pending: dict[str, int] = {}
        self._flushed_at: dict[str, float] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def record(self, api_key_id: str) -> None:
        if api_key_id.startswith("legacy-"):
            return
        now = time.monotonic()
        with self._lock:
            self._pending[api_key_id] = self._pending.get(api_key_id, 0) + 1
            last = self._flushed_at.get(api_key_id)
            if last is not None and now - last < settings.API_KEY_USAGE_FLUSH_SECONDS:
                return
            self._flushed_at[api_key_id] = now
            count = self._pending.pop(api_key_id)
            thread = threading.Thread(target=self._write, args=(api_key_id, count), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _write(self, api_key_id: str, count: int) -> None:
        try:
            storage.key_record_usage(api_key_id, count=count, last_used_at=utcnow())
        except (StoreError, Exception) as exc:  # usage is best effort; never fail a request
            logger.warning("could not record usage of key %s: %s", api_key_id, exc)

    def wait(self) -> None:
        for thread in list(self._threads):
            thread.join(timeout=10)

    def reset(self) -> None:
        self.wait()
        with self._lock:
            self._pending.clear()
            self._flushed_at.clear()


usage = UsageRecorder()
