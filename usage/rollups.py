"""The usage roll-ups: attribute names, shard keys and the update that adds to them.

Every count is an `ADD` on a flat attribute (one ADD can create a flat attribute, not a map
key). They are counted from the dispatches' stream, a batch at a time, exactly once
(usage/rollups_stream.py), never inside a create, claim or finish transaction, so the
charts never read dispatches and no quota transaction touches an item other tenants write:

- the tenant's quota item (`sk = USAGE#<day>`): `dispatches`, the one count the create's own
  transaction keeps, for the daily limit;
- the tenant's day of breakdowns (`sk = USAGE#<day>#CELLS`), keyless so its size does not
  depend on the keys: `agent_<a>`, `status_<s>`, and the cells `c/<agent>/-` created,
  `s/<status>/<agent>/-` finished by status, `r/<limit>/<agent>/-` refused by a limit,
  `h/<agent>/<bucket>` run-time histogram, `$/<agent>/<model>` the micro-USD spent by the
  dispatches that ended that day (issue 16, point 2) (a day counted before the per-key items existed
  holds `c/<agent>/<key>`, `s/…/<key>`, `r/…/<key>` cells here: still read);
- a key's month (`sk = USAGE#<YYYY-MM>#KEY#<key id>`): the same per day, `<DD>/c/<agent>`,
  `<DD>/s/<status>/<agent>`, `<DD>/r/<limit>/<agent>`, `<DD>/$/<agent>` (a dispatch without a key has none:
  the readers give "-" what the keys do not account for);
- the day across tenants, sharded by tenant (`tenant_id = STATS#<day>#<n>`, `sk = DAY`):
  the same cells without the key (`t/<tenant id>` cells of days counted before the top
  items existed are still read);
- the top tenants of that shard and day (same partition, `sk = TOP`): `t/<tenant id>` for
  the K tenants that created most (usage/top_tenants.py keeps it), and `version`;
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

from django.conf import settings

from outpost_admin.agents import AGENTS
from outpost_admin.dynamo import to_item, values

DAY_SHARDS = 8
TOP_SIZE = 100  # K, tenants kept per top item unless OUTPOST_USAGE_TOP_TENANTS says otherwise
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


def spend_cell(agent: str, model_id: str) -> str:
    """What the dispatches that ended that day cost (micro-USD), by agent and model: a model
    the registry does not know (the control plane's) counts as "other", so the cells stay as
    few as the registry's models."""
    known = model_id in (AGENTS[agent].models if agent in AGENTS else ())
    return f"$/{agent}/{model_id if known else 'other'}"


def key_spend_cell(day: date, agent: str) -> str:
    """A key's spend that day, by agent (its month item holds 31 x agents of these)."""
    return f"{day:%d}/$/{agent}"


def run_time_cell(agent: str, seconds: float) -> str:
    return f"h/{agent}/{run_time_bucket(seconds)}"


def tenant_cell(tenant_id: str) -> str:
    """Created per tenant, on a top item (and on day shards counted before them)."""
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


def key_created_cell(day: date, agent: str) -> str:
    return f"{day:%d}/c/{agent}"


def key_finished_cell(day: date, status: str, agent: str) -> str:
    return f"{day:%d}/s/{status.lower()}/{agent}"


def key_rejected_cell(day: date, limit: str, agent: str) -> str:
    return f"{day:%d}/r/{limit}/{agent}"


def created_count(item: dict[str, Any]) -> int:
    """A tenant's dispatches created that day, from one of its day items (plain values): the
    sum of its `agent_<a>` cells."""
    return sum(int(v) for name, v in item.items() if name.startswith("agent_"))


def usage_cells_key(tenant_id: str, day: date) -> dict[str, Any]:
    """The tenant's day of breakdowns, beside its quota item (`USAGE#<day>`, tenants'
    counters): counted from the stream, so the item a create's transaction writes stays a
    few bytes."""
    return to_item({"tenant_id": tenant_id, "sk": f"USAGE#{day.isoformat()}#CELLS"})


def key_month_key(tenant_id: str, day: date, key_id: str) -> dict[str, Any]:
    """One API key's month of breakdowns: at most 31 days x agents x (1 + statuses + limits)
    cells, whatever the number of keys (each key has its own)."""
    return to_item({"tenant_id": tenant_id, "sk": f"USAGE#{day:%Y-%m}#KEY#{key_id}"})


def month_starts(days: list[date]) -> list[date]:
    return sorted({d.replace(day=1) for d in days})


def day_shard_key(day: date, shard: int) -> dict[str, Any]:
    return to_item({"tenant_id": f"STATS#{day.isoformat()}#{shard}", "sk": "DAY"})


def tenant_shard_key(tenant_id: str, day: date) -> dict[str, Any]:
    """The across-tenants day item a tenant's counts go to: always the same shard."""
    return day_shard_key(day, _shard(tenant_id, DAY_SHARDS))


def day_shard_keys(day: date) -> list[dict[str, Any]]:
    return [day_shard_key(day, n) for n in range(DAY_SHARDS)]


def tenant_shard(tenant_id: str) -> int:
    return _shard(tenant_id, DAY_SHARDS)


def top_key(day: date, shard: int) -> dict[str, Any]:
    """The top tenants of a day shard: beside it, in its partition."""
    return to_item({"tenant_id": f"STATS#{day.isoformat()}#{shard}", "sk": "TOP"})


def top_keys(day: date) -> list[dict[str, Any]]:
    return [top_key(day, n) for n in range(DAY_SHARDS)]


def top_size() -> int:
    """K: tenants kept per shard and day (the pages show the top 10, so at least that)."""
    return max(10, int(getattr(settings, "OUTPOST_USAGE_TOP_TENANTS", TOP_SIZE)))


def top_cells(item: dict[str, Any]) -> dict[str, int]:
    """A top item's (plain values) tenants and counts."""
    return {name[2:]: int(n) for name, n in item.items() if name.startswith("t/")}


def top_merge(kept: dict[str, int], fresh: dict[str, int], size: int) -> dict[str, int]:
    """The `size` largest of a top list and newly read counts, each tenant at the larger of
    its two counts (counts only grow), ties by tenant id (as the pages rank them)."""
    merged = dict(kept)
    for tenant_id, n in fresh.items():
        merged[tenant_id] = max(n, merged.get(tenant_id, 0))
    ranked = sorted(((t, n) for t, n in merged.items() if n > 0), key=lambda tn: (-tn[1], tn[0]))
    return dict(ranked[:size])


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
    table: str, *, tenant_id: str, limit: str, agent: str, key_id: str, day: date
) -> dict[str, dict[str, Any]]:
    """A refusal by a limit, by action name: the tenant's day, its key's month (if it had a
    key) and its across-tenants shard."""
    cell = rejected_cell(limit, agent, "")
    actions = {
        "day": add_action(table, usage_cells_key(tenant_id, day), [cell]),
        "day_shard": add_action(table, tenant_shard_key(tenant_id, day), [cell]),
    }
    if key_id and key_id != NO_KEY:
        key_cell = key_rejected_cell(day, limit, agent)
        actions["key_month"] = add_action(table, key_month_key(tenant_id, day, key_id), [key_cell])
    return actions
