"""Reads of the usage roll-up items: BatchGetItem by key, never a Query or Scan of dispatches."""

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from outpost_admin.dynamo import call, from_item, to_item
from outpost_admin.dynamo.tables import TENANTS
from tenants import counters, key_requests
from tenants.key_requests import KeyRequest
from usage import rollups

from .figures import Cells, DailyUsage, parse_cells, parse_key_cells, with_keys

BATCH = 100  # BatchGetItem's limit


def batch_get(keys: list[dict[str, Any]], **projection: Any) -> list[dict[str, Any]]:
    """Every item that exists among `keys`, 100 keys a call (unprocessed keys are asked again)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH):
        request: dict[str, Any] = {"Keys": keys[start : start + BATCH], **projection}
        pending = {TENANTS.name: request}
        while pending:
            response = call("batch_get_item", RequestItems=pending)
            found.extend(from_item(i) for i in response["Responses"].get(TENANTS.name, []))
            pending = response.get("UnprocessedKeys") or {}
    return found


def _day_of(sk_or_id: str) -> date:
    return date.fromisoformat(sk_or_id.split("#")[1][:10])


def tenant_cells(tenant_id: str, days: Iterable[date], key_ids: Iterable[str]) -> dict[date, Cells]:
    """The tenant's own items, added up per day: its quota and breakdown items per day
    (`USAGE#<day>`, which held the breakdowns too before they moved, and
    `USAGE#<day>#CELLS`), and the months of the given keys (`USAGE#<month>#KEY#<key>`).
    Per key, a day shows what its month items and any key cells a day item still holds from
    before them count; "-" (no key) what the keys do not account for (`figures.with_keys`)."""
    days = list(days)
    keys = [
        key
        for d in days
        for key in (counters.usage_key(tenant_id, d), rollups.usage_cells_key(tenant_id, d))
    ]
    months = rollups.month_starts(days)
    keys += [rollups.key_month_key(tenant_id, m, k) for k in key_ids for m in months]
    whole: dict[date, Cells] = {}
    keyed: dict[date, Cells] = {}
    for item in batch_get(keys):
        sk = item["sk"]
        if "#KEY#" not in sk:
            whole.setdefault(_day_of(sk), Cells()).add(parse_cells(item))
            continue
        month = date.fromisoformat(f"{sk.split('#')[1]}-01")
        for day, cells in parse_key_cells(item, month, sk.split("#KEY#", 1)[1]).items():
            keyed.setdefault(day, Cells()).add(cells)
    return {d: with_keys(whole.get(d, Cells()), keyed.get(d, Cells())) for d in days}


def key_cells(
    tenant_id: str, api_key_id: str, days: Iterable[date]
) -> tuple[dict[date, Cells], list[KeyRequest], str]:
    """One key's days from its month items (`USAGE#<month>#KEY#<key>`), its recent requests
    (`RECENT#<key>`) and its tenant's name, in one BatchGetItem: ≤ 2 months for 30 days."""
    days = list(days)
    keys = [rollups.key_month_key(tenant_id, m, api_key_id) for m in rollups.month_starts(days)]
    keys += [key_requests.recent_key(tenant_id, api_key_id), counters.tenant_key(tenant_id)]
    cells: dict[date, Cells] = {}
    requests: list[KeyRequest] = []
    name = ""
    for item in batch_get(keys):
        sk = item["sk"]
        if sk.startswith(key_requests.SK_PREFIX):
            requests = key_requests.requests_from_item(item)
        elif sk == counters.TENANT_SK:
            name = str(item.get("name", ""))
        else:
            month = date.fromisoformat(f"{sk.split('#')[1]}-01")
            for day, day_cells in parse_key_cells(item, month, api_key_id).items():
                cells.setdefault(day, Cells()).add(day_cells)
    return cells, requests, name


def global_cells(days: Iterable[date], *, top: bool = False) -> dict[date, Cells]:
    """Every tenant's counts, from the day's shards added up; with `top`, the top tenants
    too: their shards' top items, each tenant at the larger of its count there and on a day
    shard (where days counted before the top items existed hold every tenant's)."""
    days = list(days)
    keys = [key for d in days for key in rollups.day_shard_keys(d)]
    if top:
        keys += [key for d in days for key in rollups.top_keys(d)]
    result: dict[date, Cells] = {}
    for item in batch_get(keys):
        cells = result.setdefault(_day_of(item["tenant_id"]), Cells())
        if item["sk"] == "TOP":
            listed = rollups.top_cells(item)
            shard = int(item["tenant_id"].rsplit("#", 1)[1])
            cells.floors[shard] = min(listed.values()) if len(listed) >= rollups.top_size() else 0
        else:
            parsed = parse_cells(item)
            listed, parsed.tenants = dict(parsed.tenants), Counter()
            cells.add(parsed)
        for tenant_id, n in listed.items():  # the same count, seen twice over an upgrade
            cells.tenants[tenant_id] = max(cells.tenants[tenant_id], n)
    return result


def queue_cells() -> dict[date, Cells]:
    """Our waiting dispatches by the day and hour they were created in: the queue items
    (one BatchGetItem of a fixed number of keys, whatever the age of the oldest)."""
    result: dict[date, Cells] = {}
    for item in batch_get(rollups.queue_keys()):
        for name, value in item.items():
            parts = name.split("/")
            if parts[0] != "q" or len(parts) != 3 or "T" not in parts[2]:
                continue
            day, hhmm = parts[2].split("T", 1)
            cells = result.setdefault(date.fromisoformat(day), Cells())
            cells.queued[(parts[1], hhmm)] += int(value)
    return result


def five_minute_cells(starts: Iterable[datetime]) -> Cells:
    """Finished dispatches in the given five-minute buckets, added up."""
    total = Cells()
    for item in batch_get([key for s in starts for key in rollups.five_keys(s)]):
        total.add(parse_cells(item))
    return total


def tenant_names(tenant_ids: list[str]) -> dict[str, str]:
    keys = [to_item({"tenant_id": t, "sk": "TENANT"}) for t in tenant_ids]
    items = batch_get(
        keys,
        ProjectionExpression="tenant_id, #n",
        ExpressionAttributeNames={"#n": "name"},
    )
    return {i["tenant_id"]: i.get("name", "") for i in items}


def usage_get(tenant_id: str, day: date) -> DailyUsage:
    """The day's quota count and breakdowns (both items, one BatchGetItem), read by the one
    parser of day items (`parse_cells`; a day counted by an earlier version holds its
    breakdowns on the quota item: they add up the same)."""
    cells, dispatches = Cells(), 0
    for item in batch_get(
        [counters.usage_key(tenant_id, day), rollups.usage_cells_key(tenant_id, day)]
    ):
        dispatches += int(item.get("dispatches", 0))
        cells.add(parse_cells(item))
    by_agent: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for (agent, _), n in cells.created.items():
        by_agent[agent] += n
    for (status, _, _), n in cells.finished.items():
        by_status[status] += n
    return DailyUsage(
        day=day, dispatches=dispatches, by_agent=dict(by_agent), by_status=dict(by_status)
    )
