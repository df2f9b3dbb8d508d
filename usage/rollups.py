"""The usage roll-ups: attribute names, shard keys and the update that adds to them.

Every count is an `ADD` on a flat attribute (one ADD can create a flat attribute, not a map
key). They are counted from the dispatches' stream, a batch at a time, exactly once
(usage/rollups_stream.py), never inside a create, claim or finish transaction, so the
charts never read dispatches and no quota transaction touches an item other tenants write:

- the tenant's day item (`sk = USAGE#<day>`): `dispatches` (the one count the create's own
  transaction keeps, for the daily limit), `agent_<a>`, `status_<s>`, and the cells
  `c/<agent>/<key>` created, `s/<status>/<agent>/<key>` finished by status,
  `r/<limit>/<agent>/<key>` refused by a limit, `h/<agent>/<bucket>` run-time histogram;
- the day across tenants, sharded by tenant (`tenant_id = STATS#<day>#<n>`, `sk = DAY`):
  the same cells without the key, plus `t/<tenant id>` created per tenant (top tenants);
- the queue, sharded by tenant (`tenant_id = STATS#QUEUE#<n>`, `sk = QUEUE`):
  `q/<agent>/<YYYY-MM-DD>T<HH>00` our dispatches waiting now, by the hour they were created
  in; a cell reading zero is removed, so the items hold only hours with someone waiting;
- finished dispatches per five minutes (`tenant_id = STATS#<time>#<n>`, `sk = FIVE`),
  sharded by dispatch id: `s/<status>/<agent>`, the fleet page's "last hour".

No I/O here.
"""

import zlib
from datetime import date, datetime, timedelta
from typing import Any

from outpost_admin.dynamo import to_item, values

DAY_SHARDS = 8
FIVE_SHARDS = 4
NO_KEY = "-"
FIVE_MINUTES = timedelta(minutes=5)
# Upper bounds (seconds) of the run-time histogram's buckets; the last one is open.
RUN_TIME_BOUNDS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400)


def created_cell(agent: str, key_id: str) -> str:
    return f"c/{agent}/{key_id or NO_KEY}"


def finished_cell(status: str, agent: str, key_id: str) -> str:
    return f"s/{status.lower()}/{agent}/{key_id or NO_KEY}"


def rejected_cell(limit: str, agent: str, key_id: str) -> str:
    return f"r/{limit}/{agent}/{key_id or NO_KEY}"


def run_time_cell(agent: str, seconds: float) -> str:
    return f"h/{agent}/{run_time_bucket(seconds)}"


def tenant_cell(tenant_id: str) -> str:
    return f"t/{tenant_id}"


def waiting_cell(agent: str, created: datetime) -> str:
    """Our dispatches waiting now, by agent and the hour they were created in (a cell is
    removed once it reads zero, so an item holds only hours that still have some waiting)."""
    return f"q/{agent}/{created:%Y-%m-%dT%H}00"


def run_time_bucket(seconds: float) -> int:
    for index, bound in enumerate(RUN_TIME_BOUNDS):
        if seconds <= bound:
            return index
    return len(RUN_TIME_BOUNDS)


def _shard(value: str, shards: int) -> int:
    return zlib.crc32(value.encode()) % shards


def usage_cells_key(tenant_id: str, day: date) -> dict[str, Any]:
    """The tenant's day of breakdowns, beside its quota item (`USAGE#<day>`, tenants'
    counters): counted from the stream, so the item a create's transaction writes stays a
    few bytes."""
    return to_item({"tenant_id": tenant_id, "sk": f"USAGE#{day.isoformat()}#CELLS"})


def day_shard_key(day: date, shard: int) -> dict[str, Any]:
    return to_item({"tenant_id": f"STATS#{day.isoformat()}#{shard}", "sk": "DAY"})


def tenant_shard_key(tenant_id: str, day: date) -> dict[str, Any]:
    """The across-tenants day item a tenant's counts go to: always the same shard."""
    return day_shard_key(day, _shard(tenant_id, DAY_SHARDS))


def day_shard_keys(day: date) -> list[dict[str, Any]]:
    return [day_shard_key(day, n) for n in range(DAY_SHARDS)]


def queue_key(shard: int) -> dict[str, Any]:
    return to_item({"tenant_id": f"STATS#QUEUE#{shard}", "sk": "QUEUE"})


def tenant_queue_key(tenant_id: str) -> dict[str, Any]:
    """The queue item a tenant's waiting dispatches are counted in: always the same one."""
    return queue_key(_shard(tenant_id, DAY_SHARDS))


def queue_keys() -> list[dict[str, Any]]:
    """The whole queue, whatever its age: a fixed number of items."""
    return [queue_key(n) for n in range(DAY_SHARDS)]


def five_start(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def five_key(start: datetime, shard: int) -> dict[str, Any]:
    stamp = start.strftime("%Y-%m-%dT%H:%M")
    return to_item({"tenant_id": f"STATS#{stamp}#{shard}", "sk": "FIVE"})


def finished_five_key(dispatch_id: str, ended: datetime) -> dict[str, Any]:
    """The five-minute bucket a dispatch that ended then is counted in (sharded by its id)."""
    return five_key(five_start(ended), _shard(dispatch_id, FIVE_SHARDS))


def five_keys(start: datetime) -> list[dict[str, Any]]:
    return [five_key(start, n) for n in range(FIVE_SHARDS)]


def add_action(
    table: str, key: dict[str, Any], cells: list[str] | dict[str, int], n: int = 1
) -> dict[str, Any]:
    """One Update that adds n to each named cell (or each cell's own amount, from a dict)."""
    amounts = cells if isinstance(cells, dict) else dict.fromkeys(cells, n)
    names = {f"#c{i}": cell for i, cell in enumerate(amounts)}
    vals = {f":n{i}": amount for i, amount in enumerate(amounts.values())}
    return {
        "Update": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "ADD " + ", ".join(f"#c{i} :n{i}" for i in range(len(amounts))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values(vals),
        }
    }


# --- what each event counts --------------------------------------------------------------


def finish_cells(
    *, status: str, agent: str, key_id: str, run_seconds: float | None, with_key: bool
) -> list[str]:
    cells = [finished_cell(status, agent, key_id if with_key else "")]
    if run_seconds is not None:
        cells.append(run_time_cell(agent, run_seconds))
    return cells


def on_reject(
    table: str,
    *,
    tenant_key: dict[str, Any],
    tenant_id: str,
    limit: str,
    agent: str,
    key_id: str,
    day: date,
) -> list[dict[str, Any]]:
    """A refusal by a limit: the tenant's day item and its across-tenants shard."""
    shard_key = tenant_shard_key(tenant_id, day)
    return [
        add_action(table, tenant_key, [rejected_cell(limit, agent, key_id)]),
        add_action(table, shard_key, [rejected_cell(limit, agent, "")]),
    ]
