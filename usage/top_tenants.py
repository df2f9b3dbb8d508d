"""The top tenants of each day, kept exactly in items of a bounded size.

Each day shard has a top item beside it (`tenant_id = STATS#<day>#<n>`, `sk = TOP`) holding
`t/<tenant id>` for the K tenants of that shard that created most that day (K =
`OUTPOST_USAGE_TOP_TENANTS`, 100 by default: ~4.2 KB whatever the number of tenants) and a
`version`. Only this module writes it, after the stream's roll-ups of a batch are written:

1. read, in one consistent BatchGetItem, the batch's tenants' own day items (their
   `agent_<a>` cells are the authoritative count of what each created that day) and the top
   items of their shards;
2. merge: each tenant at max(kept, read), the K largest kept (`rollups.top_merge`);
3. put the item back only if it changed, on condition that its `version` is the one read;
   on a conflict, read it again and merge again.

Counts only grow, and every batch that makes a tenant's count grow merges it afterwards (a
batch seen again after a consumer died in between merges the same tenants: see
`rollups_stream._uncounted_creation`). So a tenant left out of a list is outranked by K
tenants whose counts are at least its own, and the union of a day's 8 lists holds that day's
K largest exactly.
"""

from collections import defaultdict
from datetime import date
from typing import Any

from outpost_admin.dynamo import Conflict, call, from_item, to_item
from outpost_admin.dynamo.tables import TENANTS
from tenants import counters
from usage import rollups, storage

TRIES = 8

Shard = tuple[date, int]


def top_tenants_merge(pairs: set[tuple[str, date]]) -> None:
    """Merge these tenants' counts of these days into their shards' top items."""
    if not pairs:
        return
    tenant_keys = [
        key
        for tenant_id, day in sorted(pairs)
        for key in (counters.usage_key(tenant_id, day), rollups.usage_cells_key(tenant_id, day))
    ]
    shards = sorted({(day, rollups.tenant_shard(t)) for t, day in pairs})
    items = storage.batch_get(
        tenant_keys + [rollups.top_key(day, n) for day, n in shards], ConsistentRead=True
    )
    fresh: dict[Shard, dict[str, int]] = defaultdict(dict)
    kept: dict[Shard, dict[str, Any]] = {}
    for item in items:
        if item["sk"] == "TOP":
            kept[_shard_of(item)] = item
            continue
        tenant_id, day = item["tenant_id"], date.fromisoformat(item["sk"].split("#")[1])
        counts = fresh[(day, rollups.tenant_shard(tenant_id))]
        counts[tenant_id] = counts.get(tenant_id, 0) + rollups.created_count(item)
    for shard, counts in fresh.items():
        _merge(shard, counts, kept.get(shard))


def _shard_of(item: dict[str, Any]) -> Shard:
    _, day, shard = item["tenant_id"].split("#")
    return date.fromisoformat(day), int(shard)


def _merge(shard: Shard, counts: dict[str, int], item: dict[str, Any] | None) -> None:
    key = rollups.top_key(*shard)
    for _ in range(TRIES):
        before = rollups.top_cells(item or {})
        after = rollups.top_merge(before, counts, rollups.top_size())
        if after == before:
            return
        try:
            _put(key, after, version=int(item["version"]) if item else None)
            return
        except Conflict:
            found = call("get_item", TableName=TENANTS.name, Key=key, ConsistentRead=True)
            item = from_item(found["Item"]) if "Item" in found else None
    raise Conflict(f"the top tenants of {shard} kept moving")


def _put(key: dict[str, Any], tenants: dict[str, int], *, version: int | None) -> None:
    """The whole list (K cells at most), if nobody wrote it since it was read."""
    cells = {rollups.tenant_cell(t): n for t, n in tenants.items()}
    item = {**key, **to_item({"version": (version or 0) + 1, **cells})}
    if version is None:
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(tenant_id)"}
    else:
        condition = {
            "ConditionExpression": "#v = :v",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":v": {"N": str(version)}},
        }
    call("put_item", TableName=TENANTS.name, Item=item, **condition)
