"""Every table, defined once: keys, GSIs, TTL. create_tables and the test fixtures use this."""

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings

from .client import call


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None
    # The attributes besides the keys that its readers need (None: every attribute).
    projected: tuple[str, ...] | None = None
    # Its key attributes must first be written onto existing items: on an existing table
    # `manage.py upgrade_layout` adds it after that, never create_tables.
    needs_backfill: bool = False


@dataclass(frozen=True)
class Table:
    setting: str  # settings attribute holding the name, or a suffix after the prefix
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl: str | None = None
    numeric: frozenset[str] = field(default_factory=frozenset)
    # A stream of new images: recovery follows it to fill in the control plane's records.
    stream: bool = False

    @property
    def name(self) -> str:
        if self.setting.startswith("DYNAMODB_"):
            return str(getattr(settings, self.setting))
        return f"{settings.DYNAMODB_TABLE_PREFIX}-{self.setting}"


TENANTS = Table(
    "DYNAMODB_TENANTS_TABLE",
    "tenant_id",
    "sk",
    indexes=(
        Index("api_key-index", "api_key_hash"),
        # Added by this project: tenant items (sk="TENANT") sorted by lower-cased name, with
        # only what the tenant list shows, so a counter update never rewrites an entry.
        Index(
            "tenant-list-index",
            "sk",
            "nameLower",
            projected=("name", "email", "tier", "status", "createdAt"),
        ),
        # Added by this project: items with billing work due (outpost_admin/billing_marks.py),
        # write-sharded and sparse; the keys are all the workers' billing pass reads.
        Index("billing-due-index", "billing_due", "billing_due_at", projected=()),
    ),
    stream=True,
)
API_KEYS = Table(
    "DYNAMODB_API_KEYS_TABLE",
    "apiKeyId",
    indexes=(Index("tenant-index", "tenantId"), Index("key-hash-index", "keyHashIndex")),
)
AUDIT = Table(
    "DYNAMODB_AUDIT_TABLE",
    "tenant_id",
    "timestamp",
    # Added by this project: the whole log, newest first, write-sharded (`time_shard`).
    indexes=(
        Index(
            "audit-time-index",
            "time_shard",
            "timestamp",
            projected=(
                "action",
                "resource",
                "actor",
                "metadata",
                "request_id",
                "ip_address",
                "user_agent",
                "details",  # the text search filters on it: a filter reads only what is projected
            ),
            needs_backfill=True,
        ),
    ),
    ttl="expires_at",
)
DISPATCHES = Table(
    "dispatches",
    "dispatch_id",
    indexes=(
        Index("user-dispatches-index", "user_id", "started_at"),
        Index("status-index", "status", "started_at"),
        # Added by this project: every tenant's dispatches by creation time, write-sharded
        # (`time_shard`), with only what a history row shows (`task_head`, not the task).
        Index(
            "dispatch-time-index",
            "time_shard",
            "started_at",
            projected=(
                "user_id",
                "agent",
                "model_id",
                "status",
                "repo",
                "branch",
                "task_head",
                "claimed_at",
                "ended_at",
                "origin",
            ),
            needs_backfill=True,
        ),
        # Added by this project: our PENDING dispatches, write-sharded, oldest first in each
        # shard; an item is in it only while it waits (sparse), so workers read no one else's.
        Index(
            "claim-queue-index",
            "claim_queue",
            "started_at",
            projected=("user_id", "agent", "origin", "version"),
        ),
        # Added by this project: a claim's pending `dispatch.started` event (dispatches.outbox),
        # write-sharded by tenant, sparse: only until the delivery workers have fanned it out.
        Index(
            "webhook-outbox-index", "hook_shard", "hook_due", projected=("user_id", "hook_event")
        ),
        # Added by this project: ended dispatches whose meter events Stripe has not accepted
        # yet (outpost_admin/billing_marks.py), write-sharded and sparse.
        Index("meter-due-index", "meter_due", "ended_at", projected=("user_id", "cost")),
    ),
    ttl="expires_at",
    stream=True,
)
POOL = Table("pool", "agent_type", "task_arn", ttl="ttl")
IDEMPOTENCY = Table("dispatch-idempotency", "idempotency_key", ttl="ttl")
DISPATCH_LOGS = Table(
    "dispatch-logs", "dispatch_id", "seq", ttl="expires_at", numeric=frozenset({"seq"})
)

# Added by this project: webhook endpoints, settings, the outbox's events, deliveries and their
# attempts, all under the tenant (`tenant_id` + `sk`); `webhook-due-index` holds only what is
# due (an event to fan out, a delivery to attempt), write-sharded by tenant, by due time.
WEBHOOKS = Table(
    "webhooks",
    "tenant_id",
    "sk",
    indexes=(
        Index(
            "webhook-due-index",
            "due_shard",
            "due_at",
            projected=("kind", "endpoint_id", "event_id", "type", "dispatch_id", "occurred_at"),
        ),
    ),
    ttl="expires_at",
)

ALL_TABLES = (
    TENANTS,
    API_KEYS,
    AUDIT,
    DISPATCHES,
    POOL,
    IDEMPOTENCY,
    DISPATCH_LOGS,
    WEBHOOKS,
)

# Indexes an earlier version added, each with the one that replaces it. Readers fall back to
# them while the new one is missing or being built; `upgrade_layout` drops them afterwards.
RETIRED = {
    "tenant-name-index": "tenant-list-index",
    "audit-day-index": "audit-time-index",
    "dispatch-day-index": "dispatch-time-index",
}


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _attribute_definitions(table: Table) -> list[dict[str, str]]:
    names = {table.hash_key, table.range_key}
    for index in table.indexes:
        names |= {index.hash_key, index.range_key}
    return [
        {"AttributeName": n, "AttributeType": "N" if n in table.numeric else "S"}
        for n in sorted(n for n in names if n)
    ]


def _gsi(index: Index) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": "ALL"}
    if index.projected == ():
        projection = {"ProjectionType": "KEYS_ONLY"}
    elif index.projected is not None:
        projection = {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.projected)}
    return {
        "IndexName": index.name,
        "KeySchema": _key_schema(index.hash_key, index.range_key),
        "Projection": projection,
    }


def create_tables(*, log: Any = print) -> None:
    """Create what is missing (tables, GSIs, TTL); safe to run again."""
    existing = _list_tables()
    for table in ALL_TABLES:
        if table.name not in existing:
            _create(table)
            log(f"created {table.name}")
        else:
            _add_missing_indexes(table, log)
            _ensure_stream(table, log)
        _ensure_ttl(table)


def _list_tables() -> set[str]:
    names: set[str] = set()
    params: dict[str, Any] = {}
    while True:
        page = call("list_tables", **params)
        names.update(page["TableNames"])
        if "LastEvaluatedTableName" not in page:
            return names
        params["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]


def _create(table: Table) -> None:
    params: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": _key_schema(table.hash_key, table.range_key),
        "AttributeDefinitions": _attribute_definitions(table),
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.indexes:
        params["GlobalSecondaryIndexes"] = [_gsi(i) for i in table.indexes]
    if table.stream:
        params["StreamSpecification"] = STREAM
    try:
        call("create_table", **params)
    except ClientError as exc:
        # A retry of a create whose first answer was lost (a slow store) finds it made.
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    _wait_active(table.name)


def _add_missing_indexes(table: Table, log: Any) -> None:
    description = call("describe_table", TableName=table.name)["Table"]
    present = {i["IndexName"] for i in description.get("GlobalSecondaryIndexes", [])}
    for index in table.indexes:
        if index.name in present:
            continue
        if index.needs_backfill:
            log(f"index {index.name} of {table.name} is missing: run manage.py upgrade_layout")
            continue
        add_index(table, index, log)


def add_index(table: Table, index: Index, log: Any) -> None:
    # DynamoDB adds one GSI per UpdateTable call.
    call(
        "update_table",
        TableName=table.name,
        AttributeDefinitions=_attribute_definitions(table),
        GlobalSecondaryIndexUpdates=[{"Create": _gsi(index)}],
    )
    log(f"added index {index.name} to {table.name}")
    _wait_active(table.name)


def index_states(table: Table) -> dict[str, str]:
    """The table's GSIs and their status (ACTIVE, CREATING, DELETING...)."""
    description = call("describe_table", TableName=table.name)["Table"]
    return {i["IndexName"]: i["IndexStatus"] for i in description.get("GlobalSecondaryIndexes", [])}


def drop_index(table: Table, name: str, log: Any, timeout: float = 300) -> None:
    """Delete a GSI and wait until it is gone."""
    call(
        "update_table",
        TableName=table.name,
        GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": name}}],
    )
    log(f"dropped index {name} of {table.name}")
    deadline = time.monotonic() + timeout
    while name in index_states(table):
        if time.monotonic() > deadline:
            raise TimeoutError(f"index {name} of {table.name} was not dropped")
        time.sleep(0.5)


STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def _ensure_stream(table: Table, log: Any) -> None:
    """Turn the stream on if the table has none; one that exists (any view) is left as is."""
    if not table.stream:
        return
    description = call("describe_table", TableName=table.name)["Table"]
    if description.get("StreamSpecification", {}).get("StreamEnabled"):
        return
    call("update_table", TableName=table.name, StreamSpecification=STREAM)
    log(f"enabled the stream of {table.name}")
    _wait_active(table.name)


def _ensure_ttl(table: Table) -> None:
    if not table.ttl:
        return
    ttl = call("describe_time_to_live", TableName=table.name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    call(
        "update_time_to_live",
        TableName=table.name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl},
    )


def _wait_active(name: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        description = call("describe_table", TableName=name)["Table"]
        indexes = description.get("GlobalSecondaryIndexes", [])
        if description["TableStatus"] == "ACTIVE" and all(
            i["IndexStatus"] == "ACTIVE" for i in indexes
        ):
            return
        time.sleep(0.5)
    raise TimeoutError(f"table {name} did not become active")


def delete_tables() -> None:
    existing = _list_tables()
    for table in ALL_TABLES:
        if table.name in existing:
            call("delete_table", TableName=table.name)
