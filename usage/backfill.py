"""The control plane's records, completed with what this project derives from them.

The control plane writes tenants without `nameLower` (so they are missing from the tenant
list and name search) and without an e-mail claim (so e-mail search misses them and the
address could be provisioned again), and dispatches without `started_day` (missing from
staff's history by day) that are never counted in the daily usage roll-ups.

Every worker's recovery pass follows the streams of the tenants and dispatches tables, a
lease and checkpoint per shard, and hands the records to stream_handler's batch handler,
which calls `tenant_record` / `dispatch_record` below (AWS Lambda runs the same handler in
production). These fill the records in. Every fill-in is a conditional write, so a record seen twice
(a replayed stream record, two images of one item) is still counted once. Why streams and
not polling indexes: the control plane writes no index over its tenants at all, an item
that TTL deletes is only ever seen in a stream, and a status the control plane changes
(cancelled, completed) would otherwise mean re-reading the terminal partitions of the status
index. See docs/architecture.md, "Decisions, and why".
"""

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

from dispatches.selectors import REFUSED, dispatch_from_item
from outpost_admin.dynamo import StoreError, from_item, leases, streams
from outpost_admin.dynamo.tables import DISPATCHES, TENANTS
from tenants import storage as tenant_storage

from . import budget_alerts, rollups_stream, stream_handler

logger = logging.getLogger(__name__)


def record_handlers() -> dict[str, Callable[[dict[str, Any]], None]]:
    """Each followed table's record handler, by table name."""
    return {TENANTS.name: tenant_record, DISPATCHES.name: dispatch_record}


def follow_streams(*, holder: str, old_lease: str) -> streams.Followed:
    """One pass of the local follower over both streams (any worker: a lease per shard).

    Off (OUTPOST_STREAM_FOLLOWER=off) where AWS Lambda runs stream_handler.handler instead.
    """
    total = streams.Followed()
    if not settings.OUTPOST_STREAM_FOLLOWER:
        return total
    try:
        take_over_checkpoints(old_lease)
    except StoreError as exc:  # never read from the start while old positions wait
        total.problems.append(f"taking over the old checkpoints: {exc}")
        logger.warning("stream follower: %s; trying again next pass", total.problems[-1])
        return total
    for table in record_handlers():
        followed = streams.follow(
            table,
            stream_handler.handle_batch,
            keep=stream_handler.keep(table),
            holder=holder,
            seconds=settings.OUTPOST_RECOVERY_LEASE_SECONDS,
        )
        total.handled += followed.handled
        total.kept += followed.kept
        total.failed += followed.failed
        total.trims += followed.trims
        total.problems.extend(followed.problems)
    return total


_taken_over = False


def take_over_checkpoints(old_lease: str) -> None:
    """Before per-shard leases, the positions were a map on `old_lease` (state.streams:
    table -> shard -> sequence number or "done"). Each becomes its shard's starting position,
    once (a shard that has a lease item already keeps it), then the map is removed; after
    that a process checks no more."""
    global _taken_over
    if _taken_over:
        return
    old = leases.old_checkpoints(old_lease)
    for table, positions in old.items():
        for shard_id, checkpoint in dict(positions).items():
            leases.seed(table, shard_id, str(checkpoint))
    if old:
        leases.drop_old_checkpoints(old_lease)
        logger.info("stream follower: took over %d tables' checkpoints", len(old))
    _taken_over = True


def _image(record: dict[str, Any]) -> dict[str, Any] | None:
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None  # a removal: recovery's slot sweep gives back what it held
    image = record.get("dynamodb", {}).get("NewImage")
    # (DynamoDB Local's images can hold an attribute without a typed value: leave it out.)
    return {k: v for k, v in image.items() if v} if image else None


def tenant_record(record: dict[str, Any]) -> None:
    image = _image(record)
    if image is None:
        return
    if image.get("sk", {}).get("S", "").startswith(REFUSED):
        rollups_stream.count_refusal(from_item(image))
        return
    if budget_alerts.is_budget(image):
        budget_alerts.budget_record(image)
        return
    if image.get("sk") != {"S": tenant_storage.TENANT_SK} or "nameLower" in image:
        return
    data = from_item({k: image[k] for k in ("tenant_id", "name", "email") if k in image})
    if tenant_storage.tenant_fill_in(
        data["tenant_id"], name=str(data.get("name", "")), email=str(data.get("email", ""))
    ):
        logger.info("backfill: tenant %s is listed now", data["tenant_id"])


def dispatch_record(record: dict[str, Any]) -> None:
    """One record on its own (a batch of one): see dispatch_records."""
    if failed := dispatch_records([record]):
        raise ValueError(f"the roll-ups of this record failed: {sorted(failed)}")


def dispatch_records(records: list[dict[str, Any]]) -> set[str]:
    """The dispatches' records of a batch: the control plane's get their started_day, and
    everyone's usage roll-ups are counted, once (rollups_stream.py). Returns the sequence
    numbers of the records that failed: one that cannot be read fails alone; when the
    counting itself fails, the records of the dispatches it could not count."""
    images: dict[str, dict[str, Any]] = {}  # sequence number -> image
    failed: set[str] = set()
    for record in records:
        if (image := _image(record)) is None or "dispatch_id" not in image:
            continue
        try:
            dispatch_from_item(image)
        except (KeyError, ValueError, TypeError):
            failed.add(_sequence(record))
            continue
        images[_sequence(record)] = image
    try:
        rollups_stream.count_images(list(images.values()))
    except rollups_stream.StillMoving as exc:
        moving = set(exc.dispatch_ids)
        failed |= {s for s, i in images.items() if _dispatch_id(i) in moving}
    except StoreError:
        logger.warning("roll-ups: the store failed; the batch is tried again", exc_info=True)
        failed |= set(images)
    return failed


def _sequence(record: dict[str, Any]) -> str:
    return str(record.get("dynamodb", {}).get("SequenceNumber", ""))


def _dispatch_id(image: dict[str, Any]) -> str:
    return str(from_item({"dispatch_id": image["dispatch_id"]})["dispatch_id"])
