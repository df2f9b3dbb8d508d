"""The claim queue: our PENDING dispatches in a sparse, write-sharded index.

A dispatch of ours carries `claim_queue` (its shard, from its id) while it waits, and only
then: the claim REMOVEs it, a re-queue SETs it again, and so does ending it. So the index
`claim-queue-index` (`claim_queue` + `started_at`) holds nothing but our waiting dispatches,
spread over QUEUE_SHARDS partitions, oldest first in each. A worker starts at a random shard
and moves to the next one when a claim there fails (another worker is at that head), so
workers neither read the same page in the same order nor re-read the control plane's
dispatches, which never carry the attribute.

Dispatches queued before this index existed lack the attribute: `queue_unlisted` gives them
theirs (`manage.py upgrade_layout`, which `make run` runs at start; safe to run again).
"""

import hashlib
import random
from datetime import datetime
from itertools import islice
from typing import Any

from outpost_admin.dynamo import Conflict, call, from_item, parse_iso, values
from outpost_admin.dynamo.paging import query_all
from outpost_admin.dynamo.tables import DISPATCHES

from .domain import ORIGIN, Dispatch, DispatchStatus

QUEUE_SHARDS = 16
INDEX = "claim-queue-index"


def shard_of(dispatch_id: str) -> str:
    digest = hashlib.sha256(dispatch_id.encode()).digest()
    return str(int.from_bytes(digest[:4], "big") % QUEUE_SHARDS)


def shard_order() -> list[str]:
    """Every shard once, from a random one on: no shard is left out, no two workers alike."""
    start = random.randrange(QUEUE_SHARDS)  # noqa: S311 - spreading load, not a secret
    return [str((start + i) % QUEUE_SHARDS) for i in range(QUEUE_SHARDS)]


SPREAD = 8  # a claimer picks among this many of a shard's oldest per slot it fills


def claim_candidates(shard: str, *, wanted: int, tenant_id: str | None = None) -> list[Dispatch]:
    """The shard's oldest `wanted * SPREAD` waiting dispatches in a random order: claimers at
    the same shard mostly pick different ones, and nothing newer than those is taken while
    they wait."""
    head = queue_head(shard, limit=wanted * SPREAD, tenant_id=tenant_id)
    random.shuffle(head)
    return head


def queue_head(shard: str, *, limit: int, tenant_id: str | None = None) -> list[Dispatch]:
    """The oldest waiting dispatches of one shard (keys and what a claim needs, no task)."""
    params: dict[str, Any] = {
        "TableName": DISPATCHES.name,
        "IndexName": INDEX,
        "KeyConditionExpression": "claim_queue = :shard",
        "ExpressionAttributeValues": {":shard": {"S": shard}},
        "ScanIndexForward": True,
        "Limit": limit,
    }
    if not tenant_id:
        return [_queued(from_item(item)) for item in call("query", **params).get("Items", [])]
    # A worker dedicated to one tenant (and the tests): the filter applies after each page's
    # limit, so read on until enough of its own are found or the shard ends.
    params["FilterExpression"] = "user_id = :tenant"
    params["ExpressionAttributeValues"][":tenant"] = {"S": tenant_id}
    params["Limit"] = max(limit, 25)
    return [_queued(from_item(item)) for item in islice(query_all(params), limit)]


def _queued(data: dict[str, Any]) -> Dispatch:
    return Dispatch(
        dispatch_id=data["dispatch_id"],
        tenant_id=data.get("user_id", ""),
        agent=data.get("agent", ""),
        model_id="",
        task="",
        status=DispatchStatus.PENDING,
        started_at=parse_iso(data.get("started_at")) or datetime.min,
        version=int(data.get("version", 1)),
        origin=data.get("origin", ""),
    )


def queue_unlisted() -> int:
    """Give our PENDING dispatches written before the claim queue existed their shard;
    returns how many. One pass over the status index's PENDING partition."""
    params: dict[str, Any] = {
        "TableName": DISPATCHES.name,
        "IndexName": "status-index",
        "KeyConditionExpression": "#status = :pending",
        "FilterExpression": "origin = :ours AND attribute_not_exists(claim_queue)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values(
            {":pending": str(DispatchStatus.PENDING), ":ours": ORIGIN}
        ),
    }
    return sum(_list(from_item(item)["dispatch_id"]) for item in query_all(params))


def _list(dispatch_id: str) -> bool:
    try:
        call(
            "update_item",
            TableName=DISPATCHES.name,
            Key={"dispatch_id": {"S": dispatch_id}},
            UpdateExpression="SET claim_queue = :shard",
            ConditionExpression="#status = :pending AND attribute_not_exists(claim_queue)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values(
                {":shard": shard_of(dispatch_id), ":pending": str(DispatchStatus.PENDING)}
            ),
        )
    except Conflict:
        return False  # claimed, ended or listed meanwhile
    return True
