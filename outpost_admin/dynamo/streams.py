"""Following a table's DynamoDB stream from remembered positions (one per shard).

Used by recovery to give the control plane's records the derived attributes this project
reads. The caller keeps the positions (`checkpoints`: shard id -> last sequence number, or
DONE for a closed shard read to its end) and passes them back next time.
"""

import os
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings

from .client import _count_call, call
from .errors import StoreError, translated

DONE = "done"
_client: Any = None
_endpoint: str | None = None
_lock = threading.Lock()


def _streams() -> Any:
    """The streams client for the current endpoint (tests move the endpoint around)."""
    global _client, _endpoint
    with _lock:
        if _client is None or _endpoint != settings.DYNAMODB_ENDPOINT_URL:
            _endpoint = settings.DYNAMODB_ENDPOINT_URL
            _client = _build(_endpoint)
        return _client


def _build(endpoint: str | None) -> Any:
    config = Config(
        region_name=settings.DYNAMODB_REGION,
        connect_timeout=settings.DYNAMODB_CONNECT_TIMEOUT,
        read_timeout=settings.DYNAMODB_READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": settings.DYNAMODB_MAX_ATTEMPTS},
    )
    kwargs: dict[str, Any] = {}
    if endpoint:
        kwargs = {
            "endpoint_url": endpoint,
            "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        }
    built = boto3.session.Session().client("dynamodbstreams", config=config, **kwargs)
    built.meta.events.register("before-call.dynamodbstreams", _count_call)
    return built


def _call(operation: str, **params: Any) -> dict[str, Any]:
    with translated():
        result: dict[str, Any] = getattr(_streams(), operation)(**params)
        return result


def stream_arn(table_name: str) -> str | None:
    table = call("describe_table", TableName=table_name)["Table"]
    if not table.get("StreamSpecification", {}).get("StreamEnabled"):
        return None
    arn = table.get("LatestStreamArn")
    return str(arn) if arn else None


def _shards(arn: str) -> list[dict[str, Any]]:
    """Every shard, parents before their children (a child continues its parent's records)."""
    shards: list[dict[str, Any]] = []
    params: dict[str, Any] = {"StreamArn": arn}
    while True:
        description = _call("describe_stream", **params)["StreamDescription"]
        shards.extend(description.get("Shards", []))
        last = description.get("LastEvaluatedShardId")
        if not last:
            break
        params["ExclusiveStartShardId"] = last
    known = {s["ShardId"] for s in shards}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()
    while len(ordered) < len(shards):
        for shard in shards:
            parent = shard.get("ParentShardId")
            if shard["ShardId"] not in placed and (parent not in known or parent in placed):
                ordered.append(shard)
                placed.add(shard["ShardId"])
    return ordered


def _iterator(arn: str, shard_id: str, after: str | None) -> str | None:
    params: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
    if after:
        params.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
    else:
        params.update(ShardIteratorType="TRIM_HORIZON")
    try:
        return _call("get_shard_iterator", **params).get("ShardIterator")
    except StoreError:
        if not after:
            raise
        # The remembered position was trimmed (older than the stream keeps): start over.
        return _iterator(arn, shard_id, None)


def follow(
    table_name: str,
    checkpoints: dict[str, str],
    handle: Callable[[dict[str, Any]], None],
    *,
    max_records: int = 1000,
) -> int:
    """Hand every record after the checkpoints to `handle`, advancing them as it goes.

    Returns how many records were handled (at most about `max_records`, the rest next time).
    """
    arn = stream_arn(table_name)
    if arn is None:
        return 0
    shards = _shards(arn)
    for gone in set(checkpoints) - {s["ShardId"] for s in shards}:
        del checkpoints[gone]  # trimmed away with its records
    handled = 0
    for shard in shards:
        shard_id = shard["ShardId"]
        if checkpoints.get(shard_id) == DONE or handled >= max_records:
            continue
        handled += _read_shard(arn, shard_id, checkpoints, handle, max_records - handled)
    return handled


def _read_shard(
    arn: str,
    shard_id: str,
    checkpoints: dict[str, str],
    handle: Callable[[dict[str, Any]], None],
    budget: int,
) -> int:
    iterator = _iterator(arn, shard_id, checkpoints.get(shard_id))
    handled = 0
    while iterator and handled < budget:
        response = _call("get_records", ShardIterator=iterator, Limit=min(1000, budget - handled))
        records = response.get("Records", [])
        for record in records:
            handle(record)
            checkpoints[shard_id] = record["dynamodb"]["SequenceNumber"]
            handled += 1
        iterator = response.get("NextShardIterator")
        if iterator is None:
            checkpoints[shard_id] = DONE  # a closed shard, read to its end
        elif not records:
            break  # an open shard with nothing new yet
    return handled
