"""Following a table's DynamoDB stream: one lease and checkpoint per shard, any worker.

The records go, a batch at a time and filtered as Lambda's event source mapping would filter
them, to one batch handler that takes a Lambda-shaped event (`{"Records": [...]}`) and returns
a partial batch response (`{"batchItemFailures": [{"itemIdentifier": <sequence number>}]}`).
So the same handler runs here and in AWS Lambda. Locally:

- every shard has its own lease and checkpoint (leases.py); a follower takes the shards it
  can, starting at a random one so that workers spread over them, and reads at most
  `per_shard` records of each per pass (no shared budget that starves the later shards);
- a checkpoint stops before the first record the handler failed on, so that record is
  handed over again next pass (the handlers' writes are conditional: counted once);
- a trimmed position starts again at TRIM_HORIZON (counted as a trim on the lease), an
  expired iterator is asked for again from the checkpoint, a throttle or an unreachable
  store ends the shard's pass with its checkpoint kept, a shard that is gone is skipped.
"""

import dataclasses
import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings

from . import leases
from .client import _count_call, call
from .codec import utcnow
from .errors import ExpiredIterator, Gone, StoreError, Trimmed, translated
from .leases import DONE, ShardLease

logger = logging.getLogger(__name__)
BATCH = 100  # records per GetRecords and per handler call (Lambda's default batch size)
PER_SHARD = 1000  # records one follower reads from one shard in one pass
Event = dict[str, Any]
Handler = Callable[[Event], dict[str, Any]]  # a Lambda-shaped event -> partial batch response
Keep = Callable[[dict[str, Any]], bool]  # the event filter: False drops a record unhandled
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
    """One streams call; every failure comes out as a StoreError, never a raw ClientError."""
    try:
        with translated():
            result: dict[str, Any] = getattr(_streams(), operation)(**params)
            return result
    except ClientError as exc:  # a code the adapter has no domain error for
        raise StoreError(str(exc)) from exc


def stream_arn(table_name: str) -> str | None:
    table = call("describe_table", TableName=table_name)["Table"]
    if not table.get("StreamSpecification", {}).get("StreamEnabled"):
        return None
    arn = table.get("LatestStreamArn")
    return str(arn) if arn else None


def shards(arn: str) -> list[dict[str, Any]]:
    """Every shard the stream lists (DescribeStream, paged)."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"StreamArn": arn}
    while True:
        description = _call("describe_stream", **params)["StreamDescription"]
        found.extend(description.get("Shards", []))
        last = description.get("LastEvaluatedShardId")
        if not last:
            return found
        params["ExclusiveStartShardId"] = last


@dataclass
class Followed:
    """What one pass over a table's stream did."""

    handled: int = 0  # records passed: handled, or dropped by the filter
    kept: int = 0  # of those, the ones the filter kept for the handler
    failed: int = 0  # shards whose pass stopped at a record the handler failed on
    trims: int = 0  # positions found trimmed (records lost)
    problems: list[str] = field(default_factory=list)  # store errors met (kept going)


def follow(
    table: str,
    handle: Handler,
    *,
    keep: Keep,
    holder: str,
    seconds: int,
    per_shard: int = PER_SHARD,
) -> Followed:
    """One pass: every shard this holder can lease, from its checkpoint, `per_shard` at most."""
    followed = Followed()
    try:
        arn = stream_arn(table)
        if arn is None:
            return followed
        listed = shards(arn)
        held = {lease.shard_id: lease for lease in leases.shard_leases(table, limit=1000)}
    except StoreError as exc:  # throttled, unreachable, stream gone: next pass
        _problem(followed, f"{table}: {exc}")
        return followed
    _forget_unlisted(table, held, listed)
    for shard_id in _ready(listed, held):
        shard = _Shard(arn, table, shard_id, holder, seconds, handle, keep, followed)
        try:
            shard.follow(per_shard)
        except StoreError as exc:  # the checkpoint stays where the last save put it
            _problem(followed, f"{table} {shard_id}: {exc}")
    return followed


def _problem(followed: Followed, text: str) -> None:
    logger.warning("stream follower: %s; trying again next pass", text)
    followed.problems.append(text)


def _forget_unlisted(table: str, held: dict[str, ShardLease], listed: list[dict[str, Any]]) -> None:
    """Shards older than the stream keeps are no longer listed: so go their leases."""
    now, ids = utcnow(), {s["ShardId"] for s in listed}
    for shard_id in set(held) - ids:
        leases.forget(table, shard_id, now=now)


def _ready(listed: list[dict[str, Any]], held: dict[str, ShardLease]) -> list[str]:
    """Shards with records left whose parent is read to its end (a child continues its
    parent's items, so it waits), from a random one on, so workers spread over them."""
    ids = {s["ShardId"] for s in listed}
    ready = [
        s["ShardId"]
        for s in listed
        if not _done(held, s["ShardId"])
        and (s.get("ParentShardId") not in ids or _done(held, s["ParentShardId"]))
    ]
    if not ready:
        return ready
    start = secrets.randbelow(len(ready))
    return ready[start:] + ready[:start]


def _done(held: dict[str, ShardLease], shard_id: str) -> bool:
    lease = held.get(shard_id)
    return lease is not None and lease.done


def lambda_record(record: dict[str, Any], arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it: its stream ARN, times in epoch seconds."""
    data = dict(record.get("dynamodb", {}))
    created = data.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        data["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": data, "eventSourceARN": arn}


def _is_lease(record: dict[str, Any]) -> bool:
    return record.get("dynamodb", {}).get("Keys", {}).get("tenant_id") == {"S": leases.PARTITION}


def _created(record: dict[str, Any]) -> datetime:
    created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        return created
    return datetime.fromtimestamp(float(created), UTC) if created else utcnow()


class _Shard:
    """One shard's pass by one holder, under its lease."""

    def __init__(
        self,
        arn: str,
        table: str,
        shard_id: str,
        holder: str,
        seconds: int,
        handle: Handler,
        keep: Keep,
        followed: Followed,
    ) -> None:
        self.arn, self.table, self.shard_id = arn, table, shard_id
        self.holder, self.seconds = holder, seconds
        self.handle, self.keep, self.followed = handle, keep, followed
        self.lease: ShardLease | None = None
        self.trimmed = False

    def follow(self, budget: int) -> None:
        self.lease = leases.acquire(
            self.table, self.shard_id, holder=self.holder, now=utcnow(), seconds=self.seconds
        )
        if self.lease is None:
            return  # another follower is reading it
        try:
            self._read(budget)
        finally:
            self._save(seconds=0)  # hand it on: any follower may take it next pass

    def _read(self, budget: int) -> None:
        iterator = self._iterator()
        handled = 0
        for _ in range(budget // BATCH + 3):  # a few more for iterators asked for again
            if iterator is None or handled >= budget:
                return
            try:
                response = _call("get_records", ShardIterator=iterator, Limit=BATCH)
            except ExpiredIterator:
                iterator = self._iterator()
                continue
            except Trimmed:
                iterator = self._start_over()
                continue
            records = response.get("Records", [])
            if not self._batch(records):
                return  # a record failed: it is first in line next pass
            handled += len(records)
            if records and all(_is_lease(r) for r in records):
                # Only the followers' own lease writes (every save adds one to this stream):
                # caught up, or the pass would chase its own tail.
                self._set(pending_since=None)
                return
            iterator = response.get("NextShardIterator")
            if iterator is None:
                self._set(checkpoint=DONE, pending_since=None)  # closed and read to its end
            if not records:
                return  # caught up with an open shard
            if not self._save(seconds=self.seconds):
                return  # lost the lease (stalled past its expiry): the new holder goes on

    def _iterator(self) -> str | None:
        assert self.lease is not None
        params: dict[str, Any] = {"StreamArn": self.arn, "ShardId": self.shard_id}
        if self.lease.done:
            return None
        if self.lease.checkpoint:
            params.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=self.lease.checkpoint
            )
        else:
            params.update(ShardIteratorType="TRIM_HORIZON")
        try:
            return _call("get_shard_iterator", **params).get("ShardIterator")
        except Trimmed:
            return self._start_over()
        except Gone:  # once the stream no longer lists it, its lease goes too
            logger.warning("stream follower: shard %s is gone; skipped", self.shard_id)
            return None

    def _start_over(self) -> str | None:
        """The position is older than the stream keeps: what came between is lost."""
        logger.warning(
            "stream follower: %s shard %s was trimmed past %s; records lost, starting over",
            self.table,
            self.shard_id,
            self.lease.checkpoint if self.lease else "",
        )
        self.trimmed = True
        self.followed.trims += 1
        self._set(checkpoint="", pending_since=None)
        return self._iterator()

    def _batch(self, records: list[dict[str, Any]]) -> bool:
        """Hand the records the filter keeps to the handler, and move the checkpoint up to
        the first one it failed on (False then)."""
        wanted = [lambda_record(r, self.arn) for r in records if self.keep(r)]
        failed: set[str] = set()
        if wanted:
            response = self.handle({"Records": wanted})
            failed = {str(f["itemIdentifier"]) for f in response.get("batchItemFailures", [])}
        for record in records:
            sequence = record["dynamodb"]["SequenceNumber"]
            if sequence in failed:
                self.followed.failed += 1
                self._set(pending_since=_created(record))
                return False
            self._set(checkpoint=sequence, pending_since=_created(record))
            self.followed.handled += 1
            self.followed.kept += int(self.keep(record))
        if records:  # more may follow: the lag is at most the last record's age
            self._set(pending_since=_created(records[-1]))
        else:
            self._set(pending_since=None)
        return True

    def _set(self, **changes: Any) -> None:
        assert self.lease is not None
        self.lease = dataclasses.replace(self.lease, **changes)

    def _save(self, *, seconds: int) -> bool:
        assert self.lease is not None
        trimmed, self.trimmed = self.trimmed, False
        return leases.save(self.lease, now=utcnow(), seconds=seconds, trimmed=trimmed) is not None
