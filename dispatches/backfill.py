"""The control plane's records, completed with what this project derives from them.

The control plane writes tenants without `nameLower` (so they are missing from the tenant
list and name search) and without an e-mail claim (so e-mail search misses them and the
address could be provisioned again), and dispatches without `started_day` (missing from
staff's history by day) that are never counted in the daily usage roll-ups.

Recovery follows the streams of the tenants and dispatches tables from remembered
positions and fills these in. Every fill-in is a conditional write, so a record seen twice
(a replayed stream record, two images of one item) is still counted once. Why streams and
not polling indexes: the control plane writes no index over its tenants at all, an item
that TTL deletes is only ever seen in a stream, and a status the control plane changes
(cancelled, completed) would otherwise mean re-reading the terminal partitions of the status
index. See the README, "Where this departs from DESIGN.md".
"""

import logging
from typing import Any

from outpost_admin.dynamo import from_item, streams
from outpost_admin.dynamo.tables import DISPATCHES, TENANTS
from tenants import storage as tenant_storage

from . import storage

logger = logging.getLogger(__name__)


def follow_streams(checkpoints: dict[str, Any]) -> int:
    """Handle what both streams hold after `checkpoints` (updated in place); returns how many."""
    handled = 0
    for table, handle in ((TENANTS.name, tenant_record), (DISPATCHES.name, dispatch_record)):
        positions: dict[str, str] = checkpoints.setdefault(table, {})
        handled += streams.follow(table, positions, handle)
    return handled


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
    if image.get("sk") != {"S": tenant_storage.TENANT_SK} or "nameLower" in image:
        return
    data = from_item({k: image[k] for k in ("tenant_id", "name", "email") if k in image})
    if tenant_storage.tenant_fill_in(
        data["tenant_id"], name=str(data.get("name", "")), email=str(data.get("email", ""))
    ):
        logger.info("backfill: tenant %s is listed now", data["tenant_id"])


def dispatch_record(record: dict[str, Any]) -> None:
    image = _image(record)
    if image is None or "dispatch_id" not in image:
        return
    dispatch = storage.dispatch_from_item(image)
    if not dispatch.day_counted:
        storage.dispatch_count_day(dispatch)
    if dispatch.status.is_terminal and not dispatch.outcome_counted:
        storage.dispatch_count_outcome(dispatch)
