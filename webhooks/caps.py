"""Each endpoint's concurrency and rate caps, shared by every worker.

Kept in the webhooks table under the endpoint's tenant, so no item is shared by tenants:

- `sk = CAP#<endpoint id>#SLOT#<n>`, n < OUTPOST_WEBHOOK_ENDPOINT_CONCURRENCY: a delivery in
  flight to the endpoint, held by one worker until it records the attempt (then deleted) or
  until `until` passes (the delivery's lease: a worker that died frees it by then);
- `sk = CAP#<endpoint id>#RATE#<window>`: sends started in that window of the clock, at most
  OUTPOST_WEBHOOK_ENDPOINT_RATE a second (a window is 1 s, or as long as one send is
  allowed when the rate is under 1 a second); expires after an hour (TTL).

A worker takes a rate token, then a slot, then claims the delivery: three conditional writes
more per delivery than a worker alone would need, none on a request path. A token taken for
a delivery that then finds no slot is spent, which errs on the side of sending less.
"""

import contextlib
import math
import random
from datetime import datetime, timedelta

from django.conf import settings

from outpost_admin.dynamo import Conflict, call, iso, to_item, values
from outpost_admin.dynamo.tables import WEBHOOKS

CAP = "CAP#"
RATE_ITEMS_KEPT = timedelta(hours=1)


def rate_window() -> tuple[int, int]:
    """(seconds per window, sends allowed in one)."""
    rate = settings.OUTPOST_WEBHOOK_ENDPOINT_RATE
    seconds = 1 if rate >= 1 else math.ceil(1 / rate)
    return seconds, max(1, math.floor(rate * seconds))


def rate_take(tenant_id: str, endpoint_id: str, *, now: datetime) -> bool:
    """One send in the endpoint's current window, if the window has one left."""
    seconds, allowed = rate_window()
    window = int(now.timestamp()) // seconds
    try:
        call(
            "update_item",
            TableName=WEBHOOKS.name,
            Key=to_item({"tenant_id": tenant_id, "sk": f"{CAP}{endpoint_id}#RATE#{window}"}),
            UpdateExpression="ADD sent :one SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(sent) OR sent < :allowed",
            ExpressionAttributeValues=values(
                {
                    ":one": 1,
                    ":allowed": allowed,
                    ":expires": int((now + RATE_ITEMS_KEPT).timestamp()),
                }
            ),
        )
    except Conflict:
        return False
    return True


def slot_take(
    tenant_id: str, endpoint_id: str, *, holder: str, now: datetime, until: datetime
) -> str | None:
    """A free slot of the endpoint (or one whose holder's lease ended), held until `until`:
    its sort key, or None when every slot is held."""
    slots = list(range(settings.OUTPOST_WEBHOOK_ENDPOINT_CONCURRENCY))
    random.shuffle(slots)  # workers spread over the slots instead of queueing on slot 0
    for n in slots:
        sk = f"{CAP}{endpoint_id}#SLOT#{n}"
        item = {
            "tenant_id": tenant_id,
            "sk": sk,
            "holder": holder,
            "until": iso(until),
            "expires_at": int((until + RATE_ITEMS_KEPT).timestamp()),
        }
        try:
            call(
                "put_item",
                TableName=WEBHOOKS.name,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(sk) OR #until < :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=values({":now": iso(now)}),
            )
        except Conflict:
            continue
        return sk
    return None


def slot_give_back(tenant_id: str, sk: str, *, holder: str) -> None:
    """Free a slot this worker holds (one that passed to another after its lease, no more)."""
    with contextlib.suppress(Conflict):
        call(
            "delete_item",
            TableName=WEBHOOKS.name,
            Key=to_item({"tenant_id": tenant_id, "sk": sk}),
            ConditionExpression="holder = :me",
            ExpressionAttributeValues=values({":me": holder}),
        )
