"""The control plane's side of the shared tables, attribute by attribute, from its source.

zeroechelon/outpost, src/control-plane/src/: models/tenant.model.ts, models/api-key.model.ts
(toDynamoItem/fromDynamoItem and their zod schemas), repositories/dispatch.repository.ts
(create, updateStatus, markCompleted, findByIdempotencyKey), repositories/pool.repository.ts
(create, countByAgent), services/pool-manager.ts (getAggregateMetrics), api/handlers/health.handler.ts
(FleetHealthResponse and its SystemMetrics, AgentHealthMetrics, DispatchStats), and
api/middleware/auth.middleware.ts (getByRawKey, then status === 'active', then expiresAt).
Written here in Python against the same DynamoDB Local the suite uses, so each rule can be
checked in both directions. Nothing here is imported by the application.
"""

import hashlib
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from outpost_admin.dynamo import call, from_item, to_item, values
from outpost_admin.dynamo.tables import API_KEYS, DISPATCHES, IDEMPOTENCY, POOL, TENANTS

AGENT_TYPES = ("claude", "codex", "gemini", "aider", "grok")
DEFAULT_USAGE_LIMITS = {
    "free": {"maxConcurrentJobs": 1, "maxJobsPerDay": 10, "maxJobTimeoutSeconds": 300},
    "starter": {"maxConcurrentJobs": 3, "maxJobsPerDay": 50, "maxJobTimeoutSeconds": 600},
    "pro": {"maxConcurrentJobs": 10, "maxJobsPerDay": 500, "maxJobTimeoutSeconds": 1800},
    "enterprise": {"maxConcurrentJobs": 50, "maxJobsPerDay": 10000, "maxJobTimeoutSeconds": 3600},
}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ParseError(AssertionError):
    """What zod's .parse() throws: the control plane answers 500/400 for such an item."""


def to_iso(dt: datetime) -> str:
    """JavaScript's Date.toISOString(): milliseconds and a Z."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return to_iso(datetime.now(UTC))


def ulid_like() -> str:
    """Its generateUlid(): 10 time characters and 16 random ones, Crockford Base32."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    millis = int(datetime.now(UTC).timestamp() * 1000)
    time_part = ""
    for _ in range(10):
        time_part = alphabet[millis % 32] + time_part
        millis //= 32
    return time_part + "".join(secrets.choice(alphabet) for _ in range(16))


# --- tenants: TenantRepository.create + toDynamoItem ---------------------------------------


def create_tenant(name: str, email: str, tier: str = "free") -> dict[str, Any]:
    """The item its create() puts (keyed tenant_id + sk, as the shared tables are)."""
    now = now_iso()
    tenant_id = str(uuid.uuid4())
    item = {
        "tenant_id": tenant_id,
        "sk": "TENANT",
        "tenantId": tenant_id,
        "name": name,
        "email": email,
        "tier": tier,
        "status": "active",
        "createdAt": now,
        "updatedAt": now,
        "usageLimits": DEFAULT_USAGE_LIMITS[tier],
        "currentUsage": {"concurrentJobs": 0, "jobsToday": 0, "lastResetDate": now[:10]},
    }
    call(
        "put_item",
        TableName=TENANTS.name,
        Item=to_item(item),
        ConditionExpression="attribute_not_exists(tenantId)",
    )
    return item


def get_tenant(tenant_id: str) -> dict[str, Any]:
    """getById + fromDynamoItem: the tenant schema's parse, or ParseError."""
    response = call(
        "get_item", TableName=TENANTS.name, Key=to_item({"tenant_id": tenant_id, "sk": "TENANT"})
    )
    if "Item" not in response:
        raise LookupError(tenant_id)
    return parse_tenant(from_item(response["Item"]))


def parse_tenant(item: dict[str, Any]) -> dict[str, Any]:
    _check(bool(UUID.match(str(item.get("tenantId", "")))), "tenantId: uuid")
    _check(isinstance(item.get("name"), str), "name: string")
    _check(bool(EMAIL.match(str(item.get("email", "")))), "email: email")
    _check(item.get("tier") in DEFAULT_USAGE_LIMITS, "tier: enum")
    _check(item.get("status") in ("active", "suspended", "pending"), "status: enum")
    _date(item.get("createdAt"))
    _date(item.get("updatedAt"))
    limits, usage = item.get("usageLimits", {}), item.get("currentUsage", {})
    _check(_int(limits.get("maxConcurrentJobs")) >= 1, "maxConcurrentJobs: int >= 1")
    _check(_int(limits.get("maxJobsPerDay")) >= 1, "maxJobsPerDay: int >= 1")
    _check(_int(limits.get("maxJobTimeoutSeconds")) >= 60, "maxJobTimeoutSeconds: int >= 60")
    _check(_int(usage.get("concurrentJobs")) >= 0, "concurrentJobs: int >= 0")
    _check(_int(usage.get("jobsToday")) >= 0, "jobsToday: int >= 0")
    _check(isinstance(usage.get("lastResetDate"), str), "lastResetDate: string")
    return item


# --- API keys: ApiKeyRepository.create / getByRawKey, the auth middleware --------------------


def create_key(tenant_id: str, scopes: list[str], name: str = "cp key") -> tuple[str, dict]:
    raw = f"otp_{secrets.token_hex(32)}"
    key_hash = hashlib.sha256(raw.encode()).hexdigest()
    item = {
        "apiKeyId": str(uuid.uuid4()),
        "tenantId": tenant_id,
        "name": name,
        "keyHash": key_hash,
        "keyPrefix": raw[:12],
        "status": "active",
        "scopes": scopes,
        "createdAt": now_iso(),
        "usageCount": 0,
        "keyHashIndex": key_hash,
    }
    call(
        "put_item",
        TableName=API_KEYS.name,
        Item=to_item(item),
        ConditionExpression="attribute_not_exists(apiKeyId)",
    )
    return raw, item


def parse_key(item: dict[str, Any]) -> dict[str, Any]:
    _check(bool(UUID.match(str(item.get("apiKeyId", "")))), "apiKeyId: uuid")
    _check(bool(UUID.match(str(item.get("tenantId", "")))), "tenantId: uuid")
    for name in ("name", "keyHash", "keyPrefix"):
        _check(isinstance(item.get(name), str), f"{name}: string")
    _check(item.get("status") in ("active", "revoked", "expired"), "status: enum")
    _check(isinstance(item.get("scopes"), list), "scopes: string[]")
    _date(item.get("createdAt"))
    if item.get("expiresAt") is not None:
        _date(item["expiresAt"])
    _check(_int(item.get("usageCount", 0)) >= 0, "usageCount: int >= 0")
    return item


def authenticate(raw: str) -> tuple[int, str, Any]:
    """authMiddleware: (HTTP status, message, key). 401 for unknown, not active, expired;
    a key item its schema refuses is a 400 there (ValidationError)."""
    key_hash = hashlib.sha256(raw.encode()).hexdigest()
    response = call(
        "query",
        TableName=API_KEYS.name,
        IndexName="key-hash-index",
        KeyConditionExpression="keyHashIndex = :hash",
        ExpressionAttributeValues=values({":hash": key_hash}),
        Limit=1,
    )
    items = response.get("Items", [])
    if not items:
        return 401, "Invalid API key", None
    try:
        key = parse_key(from_item(items[0]))
    except ParseError as exc:
        return 400, str(exc), None
    if key["status"] != "active":
        return 401, f"API key is {key['status']}", key
    expires = key.get("expiresAt")
    if expires and _date(expires) < datetime.now(UTC):
        return 401, "API key has expired", key
    return 200, "", key


def require_scope(key: dict[str, Any], scope: str) -> bool:
    """requireScope: the scope itself, or 'admin'."""
    return scope in key["scopes"] or "admin" in key["scopes"]


# --- dispatches: DispatchRepository ----------------------------------------------------------


def create_dispatch(
    tenant_id: str,
    agent: str = "claude",
    *,
    task: str = "Fix the failing test in utils.py",
    idempotency_key: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """create(): PENDING, version 1, expires_at 90 days ahead; the idempotency mapping after."""
    now = datetime.now(UTC)
    item: dict[str, Any] = {
        "dispatch_id": ulid_like(),
        "user_id": tenant_id,
        "agent": agent,
        "model_id": "claude-opus-4-5-20251101",
        "task": task,
        "status": "PENDING",
        "started_at": to_iso(now),
        "version": 1,
        "expires_at": int((now + timedelta(days=90)).timestamp()),
    }
    if idempotency_key is not None:
        item["idempotency_key"] = idempotency_key
    if tags:
        item["tags"] = tags
    call(
        "put_item",
        TableName=DISPATCHES.name,
        Item=to_item(item),
        ConditionExpression="attribute_not_exists(dispatch_id)",
    )
    if idempotency_key is not None:
        record = {
            "idempotency_key": f"{tenant_id}#{idempotency_key}",
            "dispatch_id": item["dispatch_id"],
            "created_at": item["started_at"],
            "ttl": int(now.timestamp()) + 24 * 60 * 60,
        }
        call("put_item", TableName=IDEMPOTENCY.name, Item=to_item(record))
    return item


def update_status(dispatch_id: str, status: str, version: int, **updates: str) -> dict:
    """updateStatus() with its optimistic lock (task_arn, error_message... as given)."""
    sets = ["#status = :status", "#version = :newVersion"]
    vals: dict[str, Any] = {
        ":status": status,
        ":currentVersion": version,
        ":newVersion": version + 1,
    }
    for name, value in updates.items():
        sets.append(f"{name} = :{name}")
        vals[f":{name}"] = value
    response = call(
        "update_item",
        TableName=DISPATCHES.name,
        Key=to_item({"dispatch_id": dispatch_id}),
        UpdateExpression="SET " + ", ".join(sets),
        ConditionExpression="#version = :currentVersion",
        ExpressionAttributeNames={"#status": "status", "#version": "version"},
        ExpressionAttributeValues=values(vals),
        ReturnValues="ALL_NEW",
    )
    return from_item(response["Attributes"])


def launch_on_ecs(item: dict[str, Any]) -> dict[str, Any]:
    """The dispatcher after RunTask: RUNNING with the task's ARN."""
    arn = f"arn:aws:ecs:us-east-1:000000000000:task/outpost/{uuid.uuid4().hex}"
    return update_status(item["dispatch_id"], "RUNNING", item["version"], task_arn=arn)


def cancel(dispatch_id: str) -> dict[str, Any]:
    """DELETE /dispatch/<id>: cancelDispatch() — refuses terminal ones, then updateStatus."""
    current = get_dispatch(dispatch_id)
    if current["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
        raise ValueError("Cannot cancel dispatch in terminal state")
    return update_status(dispatch_id, "CANCELLED", current["version"])


def mark_completed(dispatch_id: str) -> dict[str, Any]:
    """markCompleted(): what its status tracking writes when the ECS task stopped well."""
    current = get_dispatch(dispatch_id)
    response = call(
        "update_item",
        TableName=DISPATCHES.name,
        Key=to_item({"dispatch_id": dispatch_id}),
        UpdateExpression="SET #status = :status, ended_at = :endedAt, "
        "artifacts_url = :artifactsUrl, #version = :newVersion",
        ConditionExpression="#version = :currentVersion",
        ExpressionAttributeNames={"#status": "status", "#version": "version"},
        ExpressionAttributeValues=values(
            {
                ":status": "COMPLETED",
                ":endedAt": now_iso(),
                ":artifactsUrl": "s3://outpost-artifacts/x",
                ":currentVersion": current["version"],
                ":newVersion": current["version"] + 1,
            }
        ),
        ReturnValues="ALL_NEW",
    )
    return from_item(response["Attributes"])


def get_dispatch(dispatch_id: str) -> dict[str, Any]:
    """getById + fromDynamoItem (plain casts; tags as a map)."""
    response = call(
        "get_item", TableName=DISPATCHES.name, Key=to_item({"dispatch_id": dispatch_id})
    )
    if "Item" not in response:
        raise LookupError(dispatch_id)
    item = from_item(response["Item"])
    _check(
        item.get("status") in ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"),
        "status",
    )
    _check(isinstance(item.get("version"), int), "version: number")
    tags = item.get("tags")
    _check(
        tags is None or (isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())),
        "tags: Record<string,string>",
    )
    return item


def find_by_idempotency_key(tenant_id: str, key: str) -> dict[str, Any] | None:
    response = call(
        "get_item",
        TableName=IDEMPOTENCY.name,
        Key=to_item({"idempotency_key": f"{tenant_id}#{key}"}),
    )
    if "Item" not in response:
        return None
    return get_dispatch(from_item(response["Item"])["dispatch_id"])


# --- the pool: PoolRepository.create / countByAgent, WarmPoolManager.getAggregateMetrics -------


def create_pool_task(agent: str) -> dict[str, Any]:
    now = now_iso()
    item = {
        "agent_type": agent,
        "task_arn": f"arn:aws:ecs:us-east-1:000000000000:task/outpost/{uuid.uuid4().hex}",
        "status": "idle",
        "created_at": now,
        "last_used_at": now,
        "instance_type": "fargate",
    }
    call(
        "put_item",
        TableName=POOL.name,
        Item=to_item(item),
        ConditionExpression="attribute_not_exists(agent_type) AND attribute_not_exists(task_arn)",
    )
    return item


def delete_pool_task(item: dict[str, Any]) -> None:
    key = {"agent_type": item["agent_type"], "task_arn": item["task_arn"]}
    call("delete_item", TableName=POOL.name, Key=to_item(key))


def count_by_agent(agent: str, status: str | None = None) -> int:
    params: dict[str, Any] = {
        "TableName": POOL.name,
        "KeyConditionExpression": "agent_type = :agentType",
        "Select": "COUNT",
    }
    vals: dict[str, Any] = {":agentType": agent}
    if status is not None:
        params["FilterExpression"] = "#status = :status"
        params["ExpressionAttributeNames"] = {"#status": "status"}
        vals[":status"] = status
    params["ExpressionAttributeValues"] = values(vals)
    total, start = 0, None
    while True:  # (its own code reads one page; the suite's table outgrows one)
        if start:
            params["ExclusiveStartKey"] = start
        response = call("query", **params)
        total += response.get("Count", 0)
        start = response.get("LastEvaluatedKey")
        if not start:
            return total


def aggregate_metrics() -> dict[str, Any]:
    by_agent = [
        {
            "agentType": agent,
            "totalTasks": count_by_agent(agent),
            "idleTasks": count_by_agent(agent, "idle"),
            "inUseTasks": count_by_agent(agent, "in_use"),
        }
        for agent in AGENT_TYPES
    ]
    return {
        "totalTasks": sum(m["totalTasks"] for m in by_agent),
        "idleTasks": sum(m["idleTasks"] for m in by_agent),
        "inUseTasks": sum(m["inUseTasks"] for m in by_agent),
        "terminatingTasks": sum(count_by_agent(a, "terminating") for a in AGENT_TYPES),
        "byAgent": by_agent,
    }


# --- /health/fleet: api/handlers/health.handler.ts -----------------------------------------

# Its TypeScript interfaces, key by key; every `number` there is Math.round()ed: an integer.
SYSTEM_METRICS = dict.fromkeys(
    (
        "cpuUsagePercent",
        "memoryUsagePercent",
        "memoryUsedMB",
        "memoryTotalMB",
        "heapUsedMB",
        "heapTotalMB",
    ),
    int,
)
AGENT_HEALTH_METRICS = {
    "agent": str,
    "available": bool,
    "modelId": str,
    "poolSize": int,
    "active": int,
    "idle": int,
    "successRate": int,  # percentage 0-100
    "avgDurationMs": int,
    "maxConcurrent": int,
}
DISPATCH_STATS = {
    "lastHourTotal": int,
    "byStatus": dict.fromkeys(
        ("pending", "running", "completed", "failed", "cancelled", "timeout"), int
    ),
}
FLEET_HEALTH_RESPONSE = {
    "status": str,
    "pool": dict,
    "agents": [AGENT_HEALTH_METRICS],
    "system": SYSTEM_METRICS,
    "dispatches": DISPATCH_STATS,
    "uptime": int,
    "timestamp": str,
}


def shape_errors(value: Any, shape: Any, where: str = "data") -> list[str]:
    """Where `value` lacks a key of `shape` or has another type; keys beyond it are allowed
    (ours, beside the control plane's)."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        return [
            error
            for key, inner in shape.items()
            for error in (
                shape_errors(value[key], inner, f"{where}.{key}")
                if key in value
                else [f"{where}.{key}: missing"]
            )
        ]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where}: not an array"]
        return [e for i, v in enumerate(value) for e in shape_errors(v, shape[0], f"{where}[{i}]")]
    wrong = not isinstance(value, shape) or (shape is int and isinstance(value, bool))
    return [f"{where}: {type(value).__name__}, not {shape.__name__}"] if wrong else []


# --- zod-like checks -------------------------------------------------------------------------


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ParseError(what)


def _int(value: Any) -> int:
    _check(isinstance(value, int) and not isinstance(value, bool), "integer")
    return int(value)


def _date(value: Any) -> datetime:
    _check(isinstance(value, str), "date")
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParseError(f"date: {value}") from exc
