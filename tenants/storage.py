"""Tenants and API keys: one function per access pattern.

The counters on the tenant item and the usage items belong to counters.py; audit records to
outpost_admin.audit. Both hand this module named transaction actions.
"""

from datetime import date, datetime
from typing import Any

from outpost_admin import billing_marks
from outpost_admin.audit import AuditEvent, audit_action
from outpost_admin.dynamo import (
    Action,
    AlreadyExists,
    Conflict,
    IndexMissing,
    NotFound,
    Page,
    TransactionConflict,
    call,
    from_item,
    iso,
    parse_iso,
    to_item,
    transact,
    values,
)
from outpost_admin.dynamo.paging import put_all, query_all, query_page, scan_all
from outpost_admin.dynamo.tables import API_KEYS, TENANTS

from .counters import TENANT_SK, tenant_key, usage_key
from .domain import (
    ApiKey,
    KeyStatus,
    Limits,
    Scope,
    Tenant,
    TenantStatus,
    Tier,
)

EMAIL_SK = "EMAIL"


# --- tenants ---------------------------------------------------------------


def _tenant_to_item(tenant: Tenant) -> dict[str, Any]:
    return to_item(
        {
            "tenant_id": tenant.tenant_id,
            "sk": TENANT_SK,
            "tenantId": tenant.tenant_id,
            "name": tenant.name,
            "nameLower": tenant.name.lower(),
            "email": tenant.email,
            "tier": str(tenant.tier),
            "status": str(tenant.status),
            "createdAt": iso(tenant.created_at),
            "updatedAt": iso(tenant.updated_at),
            "usageLimits": tenant.limits.as_usage_limits(),
            "currentUsage": {
                "concurrentJobs": tenant.concurrent_jobs,
                "jobsToday": tenant.jobs_today,
                "lastResetDate": tenant.last_reset_date,
            },
            "keyCount": tenant.key_count or None,
            "suspendedReason": tenant.suspended_reason or None,
            "suspendedAt": iso(tenant.suspended_at) if tenant.suspended_at else None,
        }
    )


def _tenant_from_item(item: dict[str, Any]) -> Tenant:
    data = from_item(item)
    limits = data.get("usageLimits", {})
    usage = data.get("currentUsage", {})
    return Tenant(
        tenant_id=data["tenant_id"],
        name=data.get("name", ""),
        email=data.get("email", ""),
        tier=Tier(data.get("tier", Tier.FREE)),
        status=TenantStatus(data.get("status", TenantStatus.ACTIVE)),
        limits=Limits(
            int(limits.get("maxConcurrentJobs", 0)),
            int(limits.get("maxJobsPerDay", 0)),
            int(limits.get("maxJobTimeoutSeconds", 0)),
        ),
        created_at=parse_iso(data.get("createdAt")) or datetime.min,
        updated_at=parse_iso(data.get("updatedAt")) or datetime.min,
        concurrent_jobs=int(usage.get("concurrentJobs", 0)),
        jobs_today=int(usage.get("jobsToday", 0)),
        last_reset_date=usage.get("lastResetDate", ""),
        key_ids=frozenset(data.get("apiKeyIds", ())),
        key_count=int(data.get("keyCount", 0)),
        stripe_customer_id=data.get("stripeCustomerId", ""),
        suspended_reason=data.get("suspendedReason", ""),
        suspended_at=parse_iso(data.get("suspendedAt")),
    )


def tenant_get(tenant_id: str) -> Tenant:
    response = call(
        "get_item", TableName=TENANTS.name, Key=tenant_key(tenant_id), ConsistentRead=True
    )
    if "Item" not in response:
        raise NotFound(f"tenant {tenant_id}")
    return _tenant_from_item(response["Item"])


def tenant_home_items(
    tenant_id: str, day: date, budget_key: dict[str, Any]
) -> tuple[Tenant, int, dict[str, Any]]:
    """The tenant, that day's daily-limit count and the item under `budget_key`, read
    consistently in one BatchGetItem: (Tenant, count, budget item or {})."""
    keys = [tenant_key(tenant_id), usage_key(tenant_id, day), budget_key]
    found: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {TENANTS.name: {"Keys": keys, "ConsistentRead": True}}
    while request:
        response = call("batch_get_item", RequestItems=request)
        for item in response.get("Responses", {}).get(TENANTS.name, []):
            found[item["sk"]["S"]] = item
        request = response.get("UnprocessedKeys") or {}
    if TENANT_SK not in found:
        raise NotFound(f"tenant {tenant_id}")
    today = found.get(usage_key(tenant_id, day)["sk"]["S"], {})
    count = int(today.get("dispatches", {}).get("N", 0))
    return _tenant_from_item(found[TENANT_SK]), count, found.get(budget_key["sk"]["S"], {})


def tenant_names(tenant_ids: list[str]) -> dict[str, str]:
    """Tenant names by id: BatchGetItem, 100 keys a call, only the name read."""
    ids = sorted(set(tenant_ids))
    names: dict[str, str] = {}
    for start in range(0, len(ids), 100):
        request: dict[str, Any] = {
            TENANTS.name: {
                "Keys": [tenant_key(i) for i in ids[start : start + 100]],
                "ProjectionExpression": "tenant_id, #name",
                "ExpressionAttributeNames": {"#name": "name"},
            }
        }
        while request:
            response = call("batch_get_item", RequestItems=request)
            for item in response.get("Responses", {}).get(TENANTS.name, []):
                data = from_item(item)
                names[data["tenant_id"]] = data.get("name", "")
            request = response.get("UnprocessedKeys") or {}
    return names


def tenant_id_by_email(email: str) -> str | None:
    response = call("get_item", TableName=TENANTS.name, Key=_email_key(email), ConsistentRead=True)
    return from_item(response["Item"])["tenantId"] if "Item" in response else None


def _email_key(email: str) -> dict[str, Any]:
    return to_item({"tenant_id": f"EMAIL#{email.lower()}", "sk": EMAIL_SK})


def tenant_by_legacy_hash(key_hash: str) -> Tenant | None:
    """The control plane's older path: one key per tenant, hashed on the tenant item."""
    response = call(
        "query",
        TableName=TENANTS.name,
        IndexName="api_key-index",
        KeyConditionExpression="api_key_hash = :h",
        ExpressionAttributeValues=values({":h": key_hash}),
        Limit=1,
    )
    items = response.get("Items", [])
    return _tenant_from_item(items[0]) if items else None


def tenant_list(
    *,
    search: str = "",
    status: str = "",
    tier: str = "",
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Tenant]:
    search = search.lower()
    condition = "sk = :sk"
    names: dict[str, str] = {}
    vals: dict[str, Any] = {":sk": TENANT_SK}
    if search:
        condition += " AND begins_with(nameLower, :q)"
        vals[":q"] = search
    filters = []
    for attr, value in (("status", status), ("tier", tier)):
        if value:
            filters.append(f"#{attr} = :{attr}")
            names[f"#{attr}"] = attr
            vals[f":{attr}"] = value
    params: dict[str, Any] = {
        "TableName": TENANTS.name,
        "IndexName": LIST_INDEX,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values(vals),
    }
    if filters:
        params["FilterExpression"] = " AND ".join(filters)
        params["ExpressionAttributeNames"] = names
    page: dict[str, Any] = {
        "limit": limit,
        "cursor": cursor,
        "scope": f"tenants:{search}:{status}:{tier}",
        "key_names": ("tenant_id", "sk", "nameLower"),
        "max_reads": 5,
        "read_size": 500 if filters else 0,
    }
    try:
        items, next_cursor = query_page(params, **page)
    except IndexMissing:
        # Being built, or not added yet (create_tables adds it): the index it replaces has
        # the same keys, so a cursor of either serves both.
        items, next_cursor = query_page({**params, "IndexName": OLD_LIST_INDEX}, **page)
    return Page([_tenant_from_item(i) for i in items], next_cursor)


# The tenant list's index projects what the list shows (name, e-mail, tier, status,
# created), not the counters: tenants from it carry no limits, usage or key count. Read
# them whole with tenant_get_many.
LIST_INDEX = "tenant-list-index"
OLD_LIST_INDEX = "tenant-name-index"


def tenant_get_many(tenant_ids: list[str]) -> dict[str, Tenant]:
    """Whole tenant items by id, read consistently: BatchGetItem, 100 keys a call."""
    ids = list(dict.fromkeys(tenant_ids))
    found: dict[str, Tenant] = {}
    for start in range(0, len(ids), 100):
        keys = [tenant_key(i) for i in ids[start : start + 100]]
        request: dict[str, Any] = {TENANTS.name: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = call("batch_get_item", RequestItems=request)
            for item in response.get("Responses", {}).get(TENANTS.name, []):
                tenant = _tenant_from_item(item)
                found[tenant.tenant_id] = tenant
            request = response.get("UnprocessedKeys") or {}
    return found


def tenant_provision(tenant: Tenant, key: ApiKey, event: AuditEvent) -> None:
    """Tenant, its e-mail claim, its first key and the audit record: all or nothing."""
    item = _tenant_to_item(tenant)
    if billing_marks.billing_on():  # its Stripe customer and subscription: the workers' job
        item |= to_item(_billing_mark(tenant.tenant_id, tenant.created_at))
    tenant_put = {
        "TableName": TENANTS.name,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(tenant_id)",
    }
    try:
        transact(
            [
                ("tenant", {"Put": tenant_put}),
                email_claim(tenant.email, tenant.tenant_id),
                _key_put(key, tenant),
                *_key_listings(key),
                audit_action(event),
            ]
        )
    except TransactionConflict as exc:
        if exc.failed("email"):
            raise AlreadyExists("a tenant with this email already exists") from exc
        raise


def email_claim(email: str, tenant_id: str) -> Action:
    """The item that makes an e-mail address belong to one tenant; fails if it already does."""
    put = {
        "TableName": TENANTS.name,
        "Item": {**_email_key(email), **to_item({"tenantId": tenant_id, "email": email})},
        "ConditionExpression": "attribute_not_exists(tenant_id)",
    }
    return "email", {"Put": put}


def tenant_update(
    tenant: Tenant,
    *,
    expected_updated_at: datetime,
    keys: list[ApiKey],
    key_changes: list[Action],
    event: AuditEvent,
    billing_due: bool = False,
) -> None:
    """Write tier, limits and status, copy them onto the tenant's active keys, change the
    keys' own status (suspension), audit: at once. With `billing_due` (a tier change while
    billing is on), the tenant item is also marked for the workers' billing pass, which
    updates its Stripe subscription: no call and no action more."""
    mark = _billing_mark(tenant.tenant_id, tenant.updated_at) if billing_due else {}
    # The suspension's reason and time go with the status: set while suspended (a tier
    # change keeps them), removed on reactivation.
    why = _suspension_attributes(tenant)
    update = {
        "TableName": TENANTS.name,
        "Key": tenant_key(tenant.tenant_id),
        "UpdateExpression": "SET tier = :tier, #status = :status, usageLimits = :limits, "
        "updatedAt = :now"
        + "".join(f", {name} = :{name}" for name in {**mark, **why})
        + ("" if why else " REMOVE suspendedReason, suspendedAt"),
        # A key issued since the tenant was read bumps keyCount: this fails then.
        "ConditionExpression": "updatedAt = :seen AND "
        "(attribute_not_exists(keyCount) OR keyCount = :keys)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(
            {
                ":tier": str(tenant.tier),
                ":status": str(tenant.status),
                ":limits": tenant.limits.as_usage_limits(),
                ":now": iso(tenant.updated_at),
                ":seen": iso(expected_updated_at),
                ":keys": tenant.key_count,
                **{f":{name}": value for name, value in {**mark, **why}.items()},
            }
        ),
    }
    changed = {name for name, _ in key_changes}
    snapshots = [
        _key_snapshot_update(k, tenant) for k in keys if f"key:{k.api_key_id}" not in changed
    ]
    try:
        transact([("tenant", {"Update": update}), *snapshots, *key_changes, audit_action(event)])
    except TransactionConflict as exc:
        raise Conflict("the tenant changed meanwhile; reload and try again") from exc


def _suspension_attributes(tenant: Tenant) -> dict[str, str]:
    if tenant.status != TenantStatus.SUSPENDED or not tenant.suspended_at:
        return {}
    return {"suspendedReason": tenant.suspended_reason, "suspendedAt": iso(tenant.suspended_at)}


def _billing_mark(tenant_id: str, at: datetime) -> dict[str, str]:
    return {
        billing_marks.BILLING_DUE: billing_marks.billing_shard(tenant_id),
        billing_marks.BILLING_DUE_AT: iso(at),
    }


# --- the tenant item's billing attributes: the workers' billing pass writes them -----------


def stripe_customer_action(tenant_id: str, customer_id: str) -> Action:
    """Record the tenant's Stripe customer (`stripeCustomerId`, the control plane's
    attribute), for billing's transaction; fails if it already has another one."""
    update = {
        "TableName": TENANTS.name,
        "Key": tenant_key(tenant_id),
        "UpdateExpression": "SET stripeCustomerId = :c",
        "ConditionExpression": "attribute_exists(tenant_id) AND "
        "(attribute_not_exists(stripeCustomerId) OR stripeCustomerId = :c)",
        "ExpressionAttributeValues": values({":c": customer_id}),
    }
    return "tenant", {"Update": update}


def billing_mark_set(tenant_id: str, *, at: datetime) -> None:
    """Mark a tenant for the billing pass (one made before billing was on)."""
    mark = _billing_mark(tenant_id, at)
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=tenant_key(tenant_id),
        UpdateExpression="SET billing_due = :billing_due, billing_due_at = :billing_due_at",
        ConditionExpression="attribute_exists(tenant_id) AND attribute_not_exists(billing_due)",
        ExpressionAttributeValues=values({f":{k}": v for k, v in mark.items()}),
    )


def billing_mark_settle(tenant_id: str, *, seen: str, retry_at: datetime | None) -> bool:
    """Remove the tenant's billing mark (done), or move it to `retry_at` (failed): only if
    it is still the one the pass read, so a tier change meanwhile is synced again. False if
    it changed."""
    expression = "REMOVE billing_due, billing_due_at"
    vals: dict[str, Any] = {":seen": seen}
    if retry_at is not None:
        expression = "SET billing_due_at = :retry"
        vals[":retry"] = iso(retry_at)
    try:
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=tenant_key(tenant_id),
            UpdateExpression=expression,
            ConditionExpression="billing_due_at = :seen",
            ExpressionAttributeValues=values(vals),
        )
    except Conflict:
        return False
    return True


def _key_snapshot_update(key: ApiKey, tenant: Tenant) -> Action:
    update = {
        "TableName": API_KEYS.name,
        "Key": to_item({"apiKeyId": key.api_key_id}),
        "UpdateExpression": "SET tenantStatus = :s, tenantTier = :t, tenantName = :n",
        "ConditionExpression": "attribute_exists(apiKeyId)",
        "ExpressionAttributeValues": values(
            {":s": str(tenant.status), ":t": str(tenant.tier), ":n": tenant.name}
        ),
    }
    return f"key:{key.api_key_id}", {"Update": update}


def key_suspend(key: ApiKey, tenant: Tenant, *, at: datetime) -> Action:
    """Revoke an active key for the tenant's suspension, and say so on the key.

    The control plane accepts only active/revoked/expired and refuses all but active, so
    `revoked` is what makes it answer 401; `suspendedWithTenant` tells reactivation which
    keys to give back.
    """
    update = {
        "TableName": API_KEYS.name,
        "Key": to_item({"apiKeyId": key.api_key_id}),
        "UpdateExpression": "SET #status = :revoked, suspendedWithTenant = :at, "
        "tenantStatus = :s, tenantTier = :t, tenantName = :n",
        "ConditionExpression": "#status = :active",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(
            {
                ":revoked": str(KeyStatus.REVOKED),
                ":active": str(KeyStatus.ACTIVE),
                ":at": iso(at),
                ":s": str(tenant.status),
                ":t": str(tenant.tier),
                ":n": tenant.name,
            }
        ),
    }
    return f"key:{key.api_key_id}", {"Update": update}


def key_unsuspend(key: ApiKey, tenant: Tenant, *, status: KeyStatus) -> Action:
    """Give back a key the suspension revoked (as `status`: active, or expired meanwhile)."""
    update = {
        "TableName": API_KEYS.name,
        "Key": to_item({"apiKeyId": key.api_key_id}),
        "UpdateExpression": "SET #status = :status, tenantStatus = :s, tenantTier = :t, "
        "tenantName = :n REMOVE suspendedWithTenant",
        "ConditionExpression": "#status = :revoked AND attribute_exists(suspendedWithTenant)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(
            {
                ":status": str(status),
                ":revoked": str(KeyStatus.REVOKED),
                ":s": str(tenant.status),
                ":t": str(tenant.tier),
                ":n": tenant.name,
            }
        ),
    }
    return f"key:{key.api_key_id}", {"Update": update}


# --- API keys ---------------------------------------------------------------


def _key_to_item(key: ApiKey, tenant: Tenant | None = None) -> dict[str, Any]:
    return to_item(
        {
            "apiKeyId": key.api_key_id,
            "tenantId": key.tenant_id,
            "name": key.name,
            "keyHash": key.key_hash,
            "keyHashIndex": key.key_hash,
            "keyPrefix": key.key_prefix,
            "status": str(key.status),
            "scopes": [str(s) for s in key.scopes],
            "createdAt": iso(key.created_at),
            "expiresAt": iso(key.expires_at) if key.expires_at else None,
            "lastUsedAt": iso(key.last_used_at) if key.last_used_at else None,
            "usageCount": key.usage_count,
            "tenantStatus": str(key.tenant_status) if key.tenant_status else None,
            "tenantTier": str(tenant.tier) if tenant else None,
            "tenantName": tenant.name if tenant else None,
            "replacedBy": key.replaced_by or None,
        }
    )


def _key_from_item(item: dict[str, Any]) -> tuple[ApiKey, dict[str, Any]]:
    """The key, and the tenant snapshot stored beside it (empty for keys made elsewhere)."""
    data = from_item(item)
    key = ApiKey(
        api_key_id=data["apiKeyId"],
        tenant_id=data["tenantId"],
        name=data.get("name", ""),
        key_prefix=data.get("keyPrefix", ""),
        key_hash=data.get("keyHash", ""),
        status=KeyStatus(data.get("status", KeyStatus.ACTIVE)),
        scopes=tuple(Scope(s) for s in data.get("scopes", []) if s in Scope._value2member_map_),
        created_at=parse_iso(data.get("createdAt")) or datetime.min,
        expires_at=parse_iso(data.get("expiresAt")),
        last_used_at=parse_iso(data.get("lastUsedAt")),
        first_used_at=parse_iso(data.get("firstUsedAt")),
        usage_count=int(data.get("usageCount", 0)),
        tenant_status=TenantStatus(data["tenantStatus"]) if "tenantStatus" in data else None,
        suspended_with_tenant="suspendedWithTenant" in data,
        replaced_by=data.get("replacedBy", ""),
    )
    snapshot: dict[str, Any] = {
        k: data[k] for k in ("tenantStatus", "tenantTier", "tenantName") if k in data
    }
    return key, snapshot


def _key_put(key: ApiKey, tenant: Tenant | None = None) -> Action:
    put = {
        "TableName": API_KEYS.name,
        "Item": _key_to_item(key, tenant),
        "ConditionExpression": "attribute_not_exists(apiKeyId)",
    }
    return f"key:{key.api_key_id}", {"Put": put}


def key_get(api_key_id: str) -> ApiKey:
    response = call(
        "get_item",
        TableName=API_KEYS.name,
        Key=to_item({"apiKeyId": api_key_id}),
        ConsistentRead=True,
    )
    if "Item" not in response:
        raise NotFound(f"key {api_key_id}")
    return _key_from_item(response["Item"])[0]


def key_by_hash(key_hash: str) -> tuple[ApiKey, dict[str, Any]] | None:
    response = call(
        "query",
        TableName=API_KEYS.name,
        IndexName="key-hash-index",
        KeyConditionExpression="keyHashIndex = :h",
        ExpressionAttributeValues=values({":h": key_hash}),
    )
    items = response.get("Items", [])
    return _key_from_item(items[0]) if items else None


def keys_for_tenant(tenant_id: str) -> list[ApiKey]:
    items = query_all(
        {
            "TableName": API_KEYS.name,
            "IndexName": "tenant-index",
            "KeyConditionExpression": "tenantId = :t",
            "ExpressionAttributeValues": values({":t": tenant_id}),
        }
    )
    keys = [_key_from_item(i)[0] for i in items]
    return sorted(keys, key=lambda k: k.created_at, reverse=True)


def key_create(key: ApiKey, tenant: Tenant, event: AuditEvent) -> None:
    """The key carries the tenant's status; the condition makes sure it is still the current one."""
    try:
        transact(
            [
                _tenant_key_claim(key, tenant),
                _key_put(key, tenant),
                *_key_listings(key),
                audit_action(event),
            ]
        )
    except TransactionConflict as exc:
        raise Conflict("the tenant changed meanwhile; reload and try again") from exc


def _tenant_key_claim(key: ApiKey, tenant: Tenant) -> Action:
    """Count the new key on the tenant item (`keyCount`, which a tenant change's condition
    checks), if the tenant is still as the key copies it. The id itself goes on an item of
    its own (`_key_listing`): the tenant item, written by every create and finish, stays
    the same size whatever the number of keys."""
    update = {
        "TableName": TENANTS.name,
        "Key": tenant_key(tenant.tenant_id),
        "UpdateExpression": "ADD keyCount :one",
        "ConditionExpression": "updatedAt = :seen",
        "ExpressionAttributeValues": values({":one": 1, ":seen": iso(tenant.updated_at)}),
    }
    return "tenant", {"Update": update}


KEY_SK = "KEY#"


def _key_listings(key: ApiKey) -> list[Action]:
    """The key's id in its tenant's partition (`sk = KEY#<id>`), so a consistent Query finds
    every key issued here even when the eventually consistent tenant-index lags; and, for an
    operator key, in the operator keys' list (staff's "Operator keys" page)."""
    listings = [_key_listing(key)]
    if Scope.OPERATOR in key.scopes:
        listings.append(_operator_listing(key))
    return listings


OPERATOR_KEYS = "OPERATOR#KEYS"
OPERATOR_KEYS_SHOWN = 100


def _operator_listing(key: ApiKey) -> Action:
    """`tenant_id = OPERATOR#KEYS`, `sk = <createdAt>#<id>`: every operator key issued here,
    newest last. One partition for the platform, written only when staff issue such a key."""
    put = {
        "TableName": TENANTS.name,
        "Item": to_item(
            {
                "tenant_id": OPERATOR_KEYS,
                "sk": f"{iso(key.created_at)}#{key.api_key_id}",
                "apiKeyId": key.api_key_id,
                "tenantId": key.tenant_id,
            }
        ),
        "ConditionExpression": "attribute_not_exists(sk)",
    }
    return f"operator:{key.api_key_id}", {"Put": put}


def operator_keys() -> list[tuple[ApiKey, str]]:
    """The newest OPERATOR_KEYS_SHOWN operator keys with their tenant's name (as copied onto
    the key), newest first: one Query of their list, one BatchGetItem of the keys."""
    response = call(
        "query",
        TableName=TENANTS.name,
        KeyConditionExpression="tenant_id = :t",
        ExpressionAttributeValues=values({":t": OPERATOR_KEYS}),
        ScanIndexForward=False,
        Limit=OPERATOR_KEYS_SHOWN,
        ConsistentRead=True,
    )
    ids = [from_item(i)["apiKeyId"] for i in response.get("Items", [])]
    if not ids:
        return []
    found: dict[str, tuple[ApiKey, str]] = {}
    request: dict[str, Any] = {
        API_KEYS.name: {"Keys": [to_item({"apiKeyId": i}) for i in ids], "ConsistentRead": True}
    }
    while request:
        answer = call("batch_get_item", RequestItems=request)
        for item in answer.get("Responses", {}).get(API_KEYS.name, []):
            key, snapshot = _key_from_item(item)
            found[key.api_key_id] = (key, str(snapshot.get("tenantName", "")))
        request = answer.get("UnprocessedKeys") or {}
    return [found[i] for i in ids if i in found]


def operator_keys_list() -> int:
    """List the operator keys issued before their list existed (or by a writer that does not
    keep it); returns how many keys were seen. For `upgrade_layout`: a Scan of the keys table
    (never a request path); safe to run again (a listing's key is the key's own)."""
    params: dict[str, Any] = {
        "TableName": API_KEYS.name,
        "FilterExpression": "contains(scopes, :op)",
        "ExpressionAttributeValues": values({":op": str(Scope.OPERATOR)}),
    }
    keys = [_key_from_item(item)[0] for item in scan_all(params)]
    put_all(TENANTS.name, [_operator_listing(k)[1]["Put"]["Item"] for k in keys])
    return len(keys)


def _key_listing(key: ApiKey) -> Action:
    put = {
        "TableName": TENANTS.name,
        "Item": to_item(
            {
                "tenant_id": key.tenant_id,
                "sk": f"{KEY_SK}{key.api_key_id}",
                "apiKeyId": key.api_key_id,
                "createdAt": iso(key.created_at),
            }
        ),
        "ConditionExpression": "attribute_not_exists(sk)",
    }
    return f"listing:{key.api_key_id}", {"Put": put}


def key_ids_listed(tenant: Tenant) -> frozenset[str]:
    """The ids of every key issued here to the tenant, read consistently: its `KEY#` items,
    and the `apiKeyIds` set an earlier version kept on the tenant item (read as it is)."""
    items = query_all(
        {
            "TableName": TENANTS.name,
            "KeyConditionExpression": "tenant_id = :t AND begins_with(sk, :k)",
            "ExpressionAttributeValues": values({":t": tenant.tenant_id, ":k": KEY_SK}),
            "ProjectionExpression": "apiKeyId",
            "ConsistentRead": True,
        }
    )
    return tenant.key_ids | {from_item(i)["apiKeyId"] for i in items}


def key_lists_move() -> int:
    """Move the `apiKeyIds` sets an earlier version kept on tenant items to `KEY#` items, and
    remove them from the tenant item; returns how many tenants. For `upgrade_layout`: a Scan
    (never a request path); safe to run again (the removal requires the set as read, so a
    key an older process adds meanwhile keeps it for the next run)."""
    params: dict[str, Any] = {
        "TableName": TENANTS.name,
        "FilterExpression": "attribute_exists(apiKeyIds)",
        "ProjectionExpression": "tenant_id, sk, apiKeyIds",
    }
    moved = 0
    for item in scan_all(params):
        ids = item["apiKeyIds"]
        tenant_id = item["tenant_id"]["S"]
        listings = [
            to_item({"tenant_id": tenant_id, "sk": f"{KEY_SK}{i}", "apiKeyId": i})
            for i in ids["SS"]
        ]
        put_all(TENANTS.name, listings)
        try:
            call(
                "update_item",
                TableName=TENANTS.name,
                Key={"tenant_id": item["tenant_id"], "sk": item["sk"]},
                UpdateExpression="REMOVE apiKeyIds",
                ConditionExpression="apiKeyIds = :seen",
                ExpressionAttributeValues={":seen": ids},
            )
        except Conflict:
            continue  # changed meanwhile: the next run moves it
        moved += 1
    return moved


def key_revoke(key: ApiKey, event: AuditEvent) -> None:
    """Revoke an active key, or one its tenant's suspension revoked (reactivation then
    leaves it revoked)."""
    update = {
        "TableName": API_KEYS.name,
        "Key": to_item({"apiKeyId": key.api_key_id}),
        "UpdateExpression": "SET #status = :revoked REMOVE suspendedWithTenant",
        "ConditionExpression": "#status = :active OR attribute_exists(suspendedWithTenant)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(
            {":revoked": str(KeyStatus.REVOKED), ":active": str(KeyStatus.ACTIVE)}
        ),
    }
    try:
        transact([("key", {"Update": update}), audit_action(event)])
    except TransactionConflict as exc:
        raise Conflict("the key is no longer active") from exc


def key_rotate(
    old: ApiKey, new: ApiKey, tenant: Tenant, *, old_expires_at: datetime, event: AuditEvent
) -> None:
    """Issue `new` and let `old` expire at old_expires_at (never later than it already would);
    `old` names its replacement, so the key list tells a rotating key from a live namesake."""
    update = {
        "TableName": API_KEYS.name,
        "Key": to_item({"apiKeyId": old.api_key_id}),
        "UpdateExpression": "SET expiresAt = :exp, replacedBy = :new",
        "ConditionExpression": "#status = :active",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(
            {
                ":exp": iso(old_expires_at),
                ":new": new.api_key_id,
                ":active": str(KeyStatus.ACTIVE),
            }
        ),
    }
    try:
        transact(
            [
                ("old_key", {"Update": update}),
                _tenant_key_claim(new, tenant),
                _key_put(new, tenant),
                *_key_listings(new),
                audit_action(event),
            ]
        )
    except TransactionConflict as exc:
        if exc.failed("tenant"):
            raise Conflict("the tenant changed meanwhile; reload and try again") from exc
        raise Conflict("the key is no longer active") from exc


def key_still_valid(api_key_id: str, *, now: datetime) -> Action:
    """A ConditionCheck for another transaction, named "key": the key is active, not expired,
    and the tenant status copied onto it is active. It costs no call of its own."""
    return "key", {
        "ConditionCheck": {
            "TableName": API_KEYS.name,
            "Key": to_item({"apiKeyId": api_key_id}),
            "ConditionExpression": "#status = :active "
            "AND (attribute_not_exists(expiresAt) OR expiresAt > :now) "
            "AND (attribute_not_exists(tenantStatus) OR tenantStatus = :active)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values({":active": "active", ":now": iso(now)}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def key_record_usage(api_key_id: str, *, count: int, last_used_at: datetime) -> None:
    call(
        "update_item",
        TableName=API_KEYS.name,
        Key=to_item({"apiKeyId": api_key_id}),
        # firstUsedAt: the first flush of a key is at its first use (UsageRecorder).
        UpdateExpression="ADD usageCount :n SET lastUsedAt = :at, "
        "firstUsedAt = if_not_exists(firstUsedAt, :at)",
        ConditionExpression="attribute_exists(apiKeyId)",
        ExpressionAttributeValues=values({":n": count, ":at": iso(last_used_at)}),
    )


# --- the control plane's tenants: what this project derives from them --------------------


def tenant_fill_in(tenant_id: str, *, name: str, email: str) -> bool:
    """Give a tenant the control plane created its `nameLower` (so the list and name search
    find it) and claim its e-mail (so search finds it and nobody provisions it again).

    False if it was done before. An e-mail another tenant holds already stays theirs.
    """
    update = {
        "TableName": TENANTS.name,
        "Key": tenant_key(tenant_id),
        "UpdateExpression": "SET nameLower = :lower",
        "ConditionExpression": "attribute_exists(tenant_id) AND attribute_not_exists(nameLower)",
        "ExpressionAttributeValues": values({":lower": name.lower()}),
    }
    actions: list[Action] = [("tenant", {"Update": update})]
    if email:
        actions.append(email_claim(email.lower(), tenant_id))
    try:
        transact(actions)
    except TransactionConflict as exc:
        if exc.failed("tenant"):
            return False
        if not exc.failed("email"):
            raise
        transact(actions[:1])
    return True


# --- budgets (the actions are tenants/budgets.py's) -----------------------------------


class BudgetRefused(Exception):
    """A lower-only change would raise a budget: `action` names whose ("budget", the item
    changed; "tenant_budget", the tenant's, which a key's may not exceed)."""

    def __init__(self, action: str):
        super().__init__(action)
        self.action = action


def budget_write(actions: list[Action], event: AuditEvent) -> None:
    """A budget set, with its audit record, at once."""
    try:
        transact([*actions, audit_action(event)])
    except TransactionConflict as exc:
        for name in ("tenant_budget", "budget"):
            if exc.failed(name):
                raise BudgetRefused(name) from exc
        raise
