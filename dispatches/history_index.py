"""Staff's history across tenants: `dispatch-time-index`, write-sharded, projecting little.

Every dispatch carries `time_shard` (one of SHARDS, from its id) and `task_head` (the
task's first TASK_HEAD characters, what a history row shows). The index is keyed on
`time_shard` + `started_at` and projects only what a history row reads, so:

- creations spread over SHARDS partitions (1,000 WCU each) instead of one per UTC day;
- an entry is a few hundred bytes whatever the task (a task may be 50,000 characters);
- only changes a row shows (status, claimed, ended) rewrite an entry; roll-up marks,
  claim-queue and worker fields do not.

A page is SHARDS Queries merged newest first (outpost_admin.dynamo.merge), for a day or
any time range alike. Ours get both attributes at create; the control plane's when the
stream fills in their `started_day` (rollups_stream); items written before this version by
`manage.py upgrade_layout` (`backfill`), which adds the index only afterwards. Until then
readers fall back to `dispatch-day-index` (one partition per UTC day).
"""

import zlib
from typing import Any

from outpost_admin.dynamo import Conflict, call, values
from outpost_admin.dynamo.tables import DISPATCHES

SHARDS = 16
TASK_HEAD = 100
INDEX = "dispatch-time-index"
OLD_INDEX = "dispatch-day-index"


def shard_of(dispatch_id: str) -> str:
    return str(zlib.crc32(dispatch_id.encode()) % SHARDS)


def shards() -> dict[str, str]:
    return {str(n): str(n) for n in range(SHARDS)}


def listed(dispatch_id: str, task: str) -> dict[str, str]:
    """The attributes that put a dispatch in the history index."""
    return {"time_shard": shard_of(dispatch_id), "task_head": task[:TASK_HEAD]}


def backfill() -> int:
    """Give the dispatches written before this version their index attributes; returns how
    many. A Scan (an operator's command, never a request), filtered to those that lack them
    and have a `started_day` (the control plane's get theirs from the stream)."""
    params: dict[str, Any] = {
        "TableName": DISPATCHES.name,
        "FilterExpression": "attribute_exists(started_day) AND attribute_not_exists(time_shard)",
        "ProjectionExpression": "dispatch_id, task",
    }
    done = 0
    while True:
        page = call("scan", **params)
        for item in page.get("Items", []):
            done += _list(item["dispatch_id"]["S"], item.get("task", {}).get("S", ""))
        if "LastEvaluatedKey" not in page:
            return done
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _list(dispatch_id: str, task: str) -> bool:
    try:
        call(
            "update_item",
            TableName=DISPATCHES.name,
            Key={"dispatch_id": {"S": dispatch_id}},
            UpdateExpression="SET time_shard = :shard, task_head = :head",
            ConditionExpression="attribute_exists(dispatch_id) AND attribute_not_exists(time_shard)",
            ExpressionAttributeValues=values(
                {":shard": shard_of(dispatch_id), ":head": task[:TASK_HEAD]}
            ),
        )
    except Conflict:
        return False  # deleted (TTL) or listed meanwhile
    return True
