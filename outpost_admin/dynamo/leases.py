"""One lease and checkpoint per stream shard, in the tenants table beside `LEASE#recovery`.

Items: `tenant_id = "LEASE#stream"`, `sk = "<table>#<shard id>"`. One partition for all of
them, so the fleet page reads every shard's lag with one Query; only the shards a stream
still lists (24 h of them) have an item, the follower deletes the others. Taking a lease is
a conditional update on holder/expiry, as `LEASE#recovery` is taken (dispatches/storage.py);
every save is conditional on still holding it, so a holder that lost its lease (it stalled
past the expiry and another took over) can never move the checkpoint back.
"""

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .client import call
from .codec import from_item, to_item, values
from .errors import Conflict
from .tables import TENANTS

PARTITION = "LEASE#stream"
DONE = "done"  # the checkpoint of a closed shard read to its end
SHOWN = 200  # shard leases the fleet page reads (one Query page); a stream has a few dozen


@dataclass(frozen=True)
class ShardLease:
    table: str
    shard_id: str
    holder: str = ""
    checkpoint: str = ""  # the last sequence number handled, DONE, or "" (from the start)
    trims: int = 0  # times the position was trimmed away: records were lost each time
    pending_since: datetime | None = None  # the oldest record not handled yet (None: caught up)
    checked_at: datetime | None = None  # when the holder last read the shard

    @property
    def done(self) -> bool:
        return self.checkpoint == DONE

    def lag_seconds(self, now: datetime) -> int:
        if self.pending_since is None:
            return 0
        return max(0, int((now - self.pending_since).total_seconds()))


def _key(table: str, shard_id: str) -> dict[str, Any]:
    return to_item({"tenant_id": PARTITION, "sk": f"{table}#{shard_id}"})


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(millis: Any) -> datetime | None:
    return datetime.fromtimestamp(int(millis) / 1000, UTC) if millis else None


def _from_item(item: dict[str, Any]) -> ShardLease:
    data = from_item(item)
    table, _, shard_id = str(data["sk"]).partition("#")
    return ShardLease(
        table=table,
        shard_id=shard_id,
        holder=str(data.get("holder", "")),
        checkpoint=str(data.get("checkpoint", "")),
        trims=int(data.get("trims", 0)),
        pending_since=_moment(data.get("pendingSince")),
        checked_at=_moment(data.get("checkedAt")),
    )


def acquire(
    table: str, shard_id: str, *, holder: str, now: datetime, seconds: int
) -> ShardLease | None:
    """Hold the shard for `seconds` if it is free, expired or ours; None if another holds it."""
    try:
        response = call(
            "update_item",
            TableName=TENANTS.name,
            Key=_key(table, shard_id),
            UpdateExpression="SET holder = :me, expiresAt = :until",
            ConditionExpression="attribute_not_exists(holder) OR holder = :me OR expiresAt < :now",
            ExpressionAttributeValues=values(
                {
                    ":me": holder,
                    ":until": _millis(now + timedelta(seconds=seconds)),
                    ":now": _millis(now),
                }
            ),
            ReturnValues="ALL_NEW",
        )
    except Conflict:
        return None
    return _from_item(response["Attributes"])


def save(
    lease: ShardLease, *, now: datetime, seconds: int, trimmed: bool = False
) -> ShardLease | None:
    """Store the checkpoint and lag and renew the lease (0 s: hand it on); None if lost."""
    expression = "SET checkpoint = :cp, pendingSince = :pending, checkedAt = :now, expiresAt = :u"
    if trimmed:
        expression += " ADD trims :one"
    try:
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=_key(lease.table, lease.shard_id),
            UpdateExpression=expression,
            ConditionExpression="holder = :me",
            ExpressionAttributeValues=values(
                {
                    ":cp": lease.checkpoint,
                    ":pending": _millis(lease.pending_since) if lease.pending_since else 0,
                    ":now": _millis(now),
                    ":u": _millis(now + timedelta(seconds=seconds)) if seconds else 0,
                    ":me": lease.holder,
                    **({":one": 1} if trimmed else {}),
                }
            ),
        )
    except Conflict:
        return None
    return lease


def seed(table: str, shard_id: str, checkpoint: str) -> bool:
    """Give a shard a starting position unless it has a lease item already (an upgrade)."""
    try:
        call(
            "put_item",
            TableName=TENANTS.name,
            Item={**_key(table, shard_id), **to_item({"checkpoint": checkpoint})},
            ConditionExpression="attribute_not_exists(tenant_id)",
        )
    except Conflict:
        return False
    return True


def forget(table: str, shard_id: str, *, now: datetime) -> None:
    """Delete the lease of a shard the stream no longer lists, unless someone holds it."""
    with contextlib.suppress(Conflict):
        call(
            "delete_item",
            TableName=TENANTS.name,
            Key=_key(table, shard_id),
            ConditionExpression="attribute_not_exists(expiresAt) OR expiresAt < :now",
            ExpressionAttributeValues=values({":now": _millis(now)}),
        )


def shard_leases(table: str | None = None, *, limit: int = SHOWN) -> list[ShardLease]:
    """The shard leases (of one table, or all): one Query of at most `limit` items."""
    condition, names = "tenant_id = :p", {":p": PARTITION}
    if table:
        condition += " AND begins_with(sk, :table)"
        names[":table"] = f"{table}#"
    response = call(
        "query",
        TableName=TENANTS.name,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values(names),
        ConsistentRead=True,
        Limit=limit,
    )
    return [_from_item(item) for item in response.get("Items", [])]


# --- the layout before per-shard leases: every checkpoint on one lease item ---------------


def _old_key(name: str) -> dict[str, Any]:
    return to_item({"tenant_id": f"LEASE#{name}", "sk": "LEASE"})


def old_checkpoints(name: str) -> dict[str, dict[str, str]]:
    """`state.streams` of the lease `name` (table -> shard id -> position), if still there."""
    response = call(
        "get_item",
        TableName=TENANTS.name,
        Key=_old_key(name),
        ConsistentRead=True,
        ProjectionExpression="#state.#streams",
        ExpressionAttributeNames={"#state": "state", "#streams": "streams"},
    )
    state = from_item(response.get("Item", {})).get("state", {})
    return {str(t): dict(p) for t, p in dict(state.get("streams") or {}).items()}


def drop_old_checkpoints(name: str) -> None:
    with contextlib.suppress(Conflict):  # the holder rewrote the state meanwhile, without them
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=_old_key(name),
            UpdateExpression="REMOVE #state.#streams",
            ConditionExpression="attribute_exists(#state.#streams)",
            ExpressionAttributeNames={"#state": "state", "#streams": "streams"},
        )
