"""Tenants, tiers, API keys and daily usage: plain values, no I/O."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Tier(StrEnum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    PENDING = "pending"


class KeyStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Scope(StrEnum):
    DISPATCH = "dispatch"
    STATUS = "status"
    LIST = "list"
    CANCEL = "cancel"
    WEBHOOKS = "webhooks"  # manage the tenant's webhook endpoints and their deliveries
    ADMIN = (
        "admin"  # every scope above, within the key's own tenant (as the control plane reads it)
    )
    OPERATOR = "operator"  # acting on other tenants (the admin API); only staff grant it


# What `admin` stands for: every scope of the key's own tenant, never `operator`.
TENANT_SCOPES = frozenset({Scope.DISPATCH, Scope.STATUS, Scope.LIST, Scope.CANCEL, Scope.WEBHOOKS})
SUSPENDED_LABEL = "suspended with its tenant"


@dataclass(frozen=True)
class Limits:
    max_concurrent_jobs: int
    max_jobs_per_day: int
    max_job_timeout_seconds: int

    def as_usage_limits(self) -> dict[str, int]:
        """The `usageLimits` map, as the control plane stores it and the API shows it."""
        return {
            "maxConcurrentJobs": self.max_concurrent_jobs,
            "maxJobsPerDay": self.max_jobs_per_day,
            "maxJobTimeoutSeconds": self.max_job_timeout_seconds,
        }


TIER_LIMITS = {
    Tier.FREE: Limits(1, 10, 300),
    Tier.STARTER: Limits(3, 50, 600),
    Tier.PRO: Limits(10, 500, 1800),
    Tier.ENTERPRISE: Limits(50, 10000, 3600),
}


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    email: str
    tier: Tier
    status: TenantStatus
    limits: Limits
    created_at: datetime
    updated_at: datetime
    concurrent_jobs: int = 0
    jobs_today: int = 0
    last_reset_date: str = ""
    # Keys issued here: key_count on the tenant item only grows, so it versions the set; the
    # ids are `KEY#` items of the tenant's partition (storage.key_ids_listed), or, written
    # by an earlier version, `apiKeyIds` on the tenant item (read here, never written).
    key_ids: frozenset[str] = frozenset()
    key_count: int = 0
    # The control plane's attribute: the tenant's Stripe customer, once billing made one.
    stripe_customer_id: str = ""
    # Why and when it was suspended (staff's reason, or billing's "payment failed"); cleared on
    # reactivation. The control plane's tenant model has no such attribute, so these are ours.
    suspended_reason: str = ""
    suspended_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE


@dataclass(frozen=True)
class ApiKey:
    api_key_id: str
    tenant_id: str
    name: str
    key_prefix: str
    key_hash: str
    status: KeyStatus
    scopes: tuple[Scope, ...]
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    first_used_at: datetime | None = None  # ours: the first flush of its use (none before it)
    usage_count: int = 0
    # Copied from the tenant so that authentication is one read (docs/architecture.md, "Tenant snapshot on keys").
    tenant_status: TenantStatus | None = None
    # Set when a tenant's suspension revoked this key; reactivation restores exactly these.
    suspended_with_tenant: bool = False
    # The key that a rotation issued to replace this one (which keeps working for its grace).
    replaced_by: str = ""

    def effective_status(self, now: datetime) -> KeyStatus:
        if self.status == KeyStatus.ACTIVE and self.expires_at and self.expires_at <= now:
            return KeyStatus.EXPIRED
        return self.status

    def state(self, now: datetime) -> str:
        """What a key list shows: the stored status, or that a suspension set it."""
        if self.suspended_with_tenant and self.status == KeyStatus.REVOKED:
            return SUSPENDED_LABEL
        return str(self.effective_status(now))

    def allows(self, scope: Scope) -> bool:
        if scope == Scope.OPERATOR:
            return Scope.OPERATOR in self.scopes
        return scope in self.scopes or (Scope.ADMIN in self.scopes and scope in TENANT_SCOPES)


@dataclass(frozen=True)
class IssuedKey:
    """A key at the moment of creation: the only time the raw value exists."""

    key: ApiKey
    raw: str
