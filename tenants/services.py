"""Writes and business rules for tenants, API keys and the audit trail."""

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from outpost_admin.audit import Actor, audit_event
from outpost_admin.billing_marks import billing_on
from outpost_admin.dynamo import Action, Conflict, iso, utcnow

from . import budgets, keys, selectors, storage
from .domain import (
    TIER_LIMITS,
    ApiKey,
    IssuedKey,
    KeyStatus,
    Scope,
    Tenant,
    TenantStatus,
    Tier,
)

MAX_ACTIVE_KEYS = 25
SUSPENSION_REASON_MAX = 500  # characters; the tenant's users read it in a banner
DEFAULT_SCOPES = (Scope.DISPATCH, Scope.STATUS, Scope.LIST, Scope.CANCEL)


class ServiceError(Exception):
    """A business rule refused the request; the message is for the user."""

    def __init__(
        self,
        message: str,
        field: str | None = None,
        *,
        state: bool = False,
        contradiction: bool = False,
    ):
        super().__init__(message)
        self.field = field
        self.state = state  # refused by the state things are in, not by the input
        self.contradiction = contradiction  # each value well formed, together impossible


def _new_key(
    *, tenant: Tenant, name: str, scopes: tuple[Scope, ...], expires_at: datetime | None
) -> IssuedKey:
    raw = keys.generate()
    key = ApiKey(
        api_key_id=str(uuid.uuid4()),
        tenant_id=tenant.tenant_id,
        name=name,
        key_prefix=keys.display_prefix(raw),
        key_hash=keys.hash_key(raw),
        status=KeyStatus.ACTIVE,
        scopes=scopes,
        created_at=utcnow(),
        expires_at=expires_at,
        tenant_status=tenant.status,
    )
    return IssuedKey(key=key, raw=raw)


def tenant_provision(
    *, name: str, email: str, tier: Tier, actor: Actor, operator: bool = False
) -> tuple[Tenant, IssuedKey]:
    """Create the tenant and its first key together; the raw key is returned once.

    `operator` adds the operator scope to that key: only staff paths pass it.
    """
    name, email = name.strip(), email.strip().lower()
    now = utcnow()
    tenant = Tenant(
        tenant_id=str(uuid.uuid4()),
        name=name,
        email=email,
        tier=tier,
        status=TenantStatus.ACTIVE,
        limits=TIER_LIMITS[tier],
        created_at=now,
        updated_at=now,
        last_reset_date=now.date().isoformat(),
    )
    scopes = (*DEFAULT_SCOPES, Scope.OPERATOR) if operator else DEFAULT_SCOPES
    issued = _new_key(tenant=tenant, name="default", scopes=scopes, expires_at=None)
    tenant = replace(tenant, key_count=1)
    event = audit_event(
        tenant_id=tenant.tenant_id,
        action="tenant.provision",
        resource=f"tenant/{tenant.tenant_id}",
        actor=actor,
        metadata={
            "name": name,
            "email": email,
            "tier": str(tier),
            "keyPrefix": issued.key.key_prefix,
            "scopes": [str(s) for s in scopes],
        },
    )
    try:
        storage.tenant_provision(tenant, issued.key, event)
    except storage.AlreadyExists as exc:
        raise ServiceError("A tenant with this email already exists.", field="email") from exc
    return tenant, issued


def _update_tenant(
    tenant: Tenant, changed: Tenant, *, action: str, actor: Actor, reason: str = ""
) -> Tenant:
    # Expired keys are refused whatever their copy says; leaving them out keeps the
    # transaction within DynamoDB's 100 actions however many rotations a tenant has made.
    now = utcnow()
    all_keys = _tenant_keys(tenant)
    active = [k for k in all_keys if k.effective_status(now) == KeyStatus.ACTIVE]
    changed = replace(changed, updated_at=max(now, tenant.updated_at + timedelta(milliseconds=1)))
    key_changes = _suspension_changes(tenant, changed, all_keys, now)
    event = audit_event(
        tenant_id=tenant.tenant_id,
        action=action,
        resource=f"tenant/{tenant.tenant_id}",
        actor=actor,
        metadata={
            "from": {"tier": str(tenant.tier), "status": str(tenant.status)},
            "to": {"tier": str(changed.tier), "status": str(changed.status)},
            **({"keysChanged": len(key_changes)} if key_changes else {}),
            **({"reason": reason} if reason else {}),
        },
    )
    storage.tenant_update(
        changed,
        expected_updated_at=tenant.updated_at,
        keys=active,
        key_changes=key_changes,
        event=event,
        # Its Stripe subscription follows the tier: marked here, updated by the workers.
        billing_due=billing_on() and changed.tier != tenant.tier,
    )
    forget_cached_keys(tenant_id=tenant.tenant_id)
    return changed


def _suspension_changes(
    tenant: Tenant, changed: Tenant, keys: list[ApiKey], now: datetime
) -> list[Action]:
    """Suspending revokes every active key (so the control plane refuses them too) and marks
    it; reactivating gives back exactly the marked ones, as expired if they expired meanwhile.
    A key revoked while suspended loses its mark, so it stays revoked."""
    if changed.status == TenantStatus.SUSPENDED and tenant.status != TenantStatus.SUSPENDED:
        return [
            storage.key_suspend(k, changed, at=now)
            for k in keys
            if k.effective_status(now) == KeyStatus.ACTIVE
        ]
    if tenant.status == TenantStatus.SUSPENDED and changed.status != TenantStatus.SUSPENDED:
        return [
            storage.key_unsuspend(k, changed, status=_restored_status(k, now))
            for k in keys
            if k.suspended_with_tenant and k.status == KeyStatus.REVOKED
        ]
    return []


def _restored_status(key: ApiKey, now: datetime) -> KeyStatus:
    if key.expires_at and key.expires_at <= now:
        return KeyStatus.EXPIRED
    return KeyStatus.ACTIVE


def _tenant_keys(tenant: Tenant) -> list[ApiKey]:
    """Every key of the tenant: the index, plus any it lags behind on (read directly)."""
    listed = storage.keys_for_tenant(tenant.tenant_id)
    missing = storage.key_ids_listed(tenant) - {k.api_key_id for k in listed}
    return listed + [storage.key_get(key_id) for key_id in sorted(missing)]


def tenant_change_tier(*, tenant_id: str, tier: Tier, actor: Actor) -> Tenant:
    tenant = storage.tenant_get(tenant_id)
    if tenant.tier == tier:
        return tenant
    changed = replace(tenant, tier=tier, limits=TIER_LIMITS[tier])
    return _update_tenant(tenant, changed, action="tenant.tier_change", actor=actor)


def tenant_set_status(
    *, tenant_id: str, status: TenantStatus, actor: Actor, reason: str = ""
) -> Tenant:
    """Suspend or reactivate; `reason` goes into the audit record (billing's "payment failed")
    and, for a suspension, onto the tenant with its time, for the tenant's users to read."""
    reason = reason.strip()
    if len(reason) > SUSPENSION_REASON_MAX:
        raise ServiceError(
            f"Give a reason of at most {SUSPENSION_REASON_MAX} characters.", field="reason"
        )
    tenant = storage.tenant_get(tenant_id)
    if tenant.status == status:
        raise ServiceError(f"The tenant is already {status}.", field="status")
    suspending = status == TenantStatus.SUSPENDED
    action = "tenant.suspend" if suspending else "tenant.reactivate"
    changed = replace(
        tenant,
        status=status,
        suspended_reason=reason if suspending else "",
        suspended_at=utcnow() if suspending else None,
    )
    return _update_tenant(tenant, changed, action=action, actor=actor, reason=reason)


def key_create(
    *,
    tenant_id: str,
    name: str,
    scopes: tuple[Scope, ...],
    expires_at: datetime | None,
    actor: Actor,
    by_staff: bool = False,
) -> IssuedKey:
    """Issue a key. The operator scope reaches other tenants, so only staff may grant it."""
    if Scope.OPERATOR in scopes and not by_staff:
        raise ServiceError("Only staff can grant the operator scope.", field="scopes")
    tenant = storage.tenant_get(tenant_id)
    now = utcnow()
    _check_key_room(tenant_id, now)
    if expires_at and expires_at <= now:
        raise ServiceError("The expiry must be in the future.", field="expires_at")
    issued = _new_key(tenant=tenant, name=name.strip(), scopes=scopes, expires_at=expires_at)
    event = audit_event(
        tenant_id=tenant_id,
        action="key.create",
        resource=f"key/{issued.key.api_key_id}",
        actor=actor,
        metadata={
            "name": issued.key.name,
            "keyPrefix": issued.key.key_prefix,
            "scopes": [str(s) for s in scopes],
            "expiresAt": iso(expires_at) if expires_at else None,
        },
    )
    storage.key_create(issued.key, tenant, event)
    return issued


def _check_key_room(tenant_id: str, now: datetime) -> None:
    active = [
        k for k in storage.keys_for_tenant(tenant_id) if k.effective_status(now) == KeyStatus.ACTIVE
    ]
    if len(active) >= MAX_ACTIVE_KEYS:
        raise ServiceError(
            f"A tenant can have at most {MAX_ACTIVE_KEYS} active keys; revoke one first."
        )


def key_revoke(*, tenant_id: str, api_key_id: str, actor: Actor) -> ApiKey:
    key = selectors.key_get(tenant_id=tenant_id, api_key_id=api_key_id)
    if key.status != KeyStatus.ACTIVE and not key.suspended_with_tenant:
        raise ServiceError(f"The key is already {key.status}.")
    event = audit_event(
        tenant_id=tenant_id,
        action="key.revoke",
        resource=f"key/{api_key_id}",
        actor=actor,
        metadata={"keyPrefix": key.key_prefix, "name": key.name},
    )
    try:
        storage.key_revoke(key, event)
    except Conflict as exc:
        raise ServiceError("The key is no longer active.") from exc
    forget_cached_keys(key_hash=key.key_hash)
    return replace(key, status=KeyStatus.REVOKED, suspended_with_tenant=False)


def key_rotate(
    *, tenant_id: str, api_key_id: str, grace: timedelta, actor: Actor
) -> tuple[ApiKey, IssuedKey]:
    """Issue a replacement with the same name and scopes; the old key stops after `grace`."""
    old = selectors.key_get(tenant_id=tenant_id, api_key_id=api_key_id)
    now = utcnow()
    if old.effective_status(now) != KeyStatus.ACTIVE:
        raise ServiceError("Only an active key can be rotated.")
    _check_key_room(tenant_id, now)
    tenant = storage.tenant_get(tenant_id)
    old_expires = now + grace
    if old.expires_at and old.expires_at < old_expires:
        old_expires = old.expires_at
    issued = _new_key(tenant=tenant, name=old.name, scopes=old.scopes, expires_at=old.expires_at)
    event = audit_event(
        tenant_id=tenant_id,
        action="key.rotate",
        resource=f"key/{api_key_id}",
        actor=actor,
        metadata={
            "keyPrefix": old.key_prefix,
            "newKeyId": issued.key.api_key_id,
            "newKeyPrefix": issued.key.key_prefix,
            "graceSeconds": int(grace.total_seconds()),
        },
    )
    try:
        storage.key_rotate(old, issued.key, tenant, old_expires_at=old_expires, event=event)
    except Conflict as exc:
        raise ServiceError(f"Nothing was changed: {exc}.") from exc
    forget_cached_keys(key_hash=old.key_hash)
    return replace(old, expires_at=old_expires), issued


def forget_cached_keys(*, key_hash: str | None = None, tenant_id: str | None = None) -> None:
    # Imported here: authentication depends on services, not the other way round.
    from .authentication import forget

    forget(key_hash=key_hash, tenant_id=tenant_id)


# --- budgets (issue 16, point 3; the items are tenants/budgets.py's) ---------------------


def budget_set(
    *,
    tenant_id: str,
    hard: int | None,
    soft: int | None,
    actor: Actor,
    api_key_id: str = "",
    lower_only: bool = False,
) -> budgets.Budget:
    """Set the tenant's (or one of its keys') monthly hard budget and soft threshold, in
    micro-USD (None: none). This month's spend is untouched, so the change counts against
    what was really spent: lowered below it, the next create is refused; raised above it,
    creates go through again; alerts already mailed this month are not mailed again.

    `lower_only` (a tenant's own admin key): a key's hard budget may only go down, never
    above the tenant's. Raises ServiceError naming `hard` or `soft`; NotFound for a tenant
    or key that is not there (or another tenant's key)."""
    _check_amounts(hard, soft)
    tenant = storage.tenant_get(tenant_id)
    if api_key_id:
        selectors.key_get(tenant_id=tenant_id, api_key_id=api_key_id)
    if lower_only and hard is None:  # (the API's schema requires one)
        raise ServiceError("An admin key can lower a key's budget, not remove it.", field="hard")
    now = utcnow()
    before = budgets.budget_get(tenant_id, api_key_id=api_key_id, now=now)
    event = audit_event(
        tenant_id=tenant.tenant_id,
        action="key.budget_set" if api_key_id else "tenant.budget_set",
        resource=f"key/{api_key_id}" if api_key_id else f"tenant/{tenant_id}",
        actor=actor,
        metadata={
            "hardUsd": _dollars(hard),
            "softUsd": _dollars(soft),
            "previousHardUsd": _dollars(before.hard),
            "previousSoftUsd": _dollars(before.soft),
        },
    )
    actions = budgets.set_action(
        tenant_id, api_key_id=api_key_id, hard=hard, soft=soft, now=now, at_most=lower_only
    )
    try:
        storage.budget_write(actions, event)
    except storage.BudgetRefused as exc:
        whose = "the tenant's budget" if exc.action == "tenant_budget" else "the key's budget now"
        message = f"An admin key can only lower it: at most {whose}."
        raise ServiceError(message, "hard", state=True) from exc
    return budgets.Budget(
        month=before.month, hard=hard, soft=soft, spent=before.spent, api_key_id=api_key_id
    )


BUDGET_MAX = 10**9 * budgets.MICROS  # a billion dollars a month: anything above is a typo


def _check_amounts(hard: int | None, soft: int | None) -> None:
    for name, amount in (("hard", hard), ("soft", soft)):
        if amount is not None and not 0 <= amount <= BUDGET_MAX:
            raise ServiceError(f"Give an amount from $0 to {budgets.usd(BUDGET_MAX)}.", name)
    if hard is not None and soft is not None and soft > hard:
        raise ServiceError(
            "The soft threshold must not be above the hard budget.", "soft", contradiction=True
        )


def _dollars(micros: int | None) -> float | None:
    return None if micros is None else micros / budgets.MICROS
