"""Usage over time, computed from the roll-up items' cells (tenants/rollups.py). No I/O."""

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from usage.rollups import DAY_SHARDS, NO_KEY, RUN_TIME_BOUNDS, tenant_shard

FINISHED = ("completed", "failed", "timeout", "cancelled")  # the roll-up cells' names
# What the pages, the CSV and the usage API call them: the dispatch API's names (COMPLETED is
# "success" there). Only /health/fleet keeps the control plane's, its shape requires them.
API_NAMES = {"completed": "success"}
STATUSES = (*(API_NAMES.get(s, s) for s in FINISHED), "active")  # active: still pending or running
LIMITS = ("concurrency", "daily", "budget", "key_budget")  # a create refused (429) by each
MAX_DAYS = 366


@dataclass
class Cells:
    """One item's counts (or several added up), by their dimensions."""

    created: Counter[tuple[str, str]] = field(default_factory=Counter)  # agent, key
    finished: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # status, agent, key
    rejected: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # limit, agent, key
    run_time: Counter[tuple[str, int]] = field(default_factory=Counter)  # agent, bucket
    tenants: Counter[str] = field(default_factory=Counter)
    queued: Counter[tuple[str, str]] = field(default_factory=Counter)  # agent, HHMM
    # Per day shard, the most an unlisted tenant can have created (its top item's smallest
    # count when full, else 0); added over days, a bound for the range (`top_exact`).
    floors: Counter[int] = field(default_factory=Counter)
    spend: Counter[tuple[str, str]] = field(default_factory=Counter)  # agent, model (micro-USD)
    spend_keys: Counter[tuple[str, str]] = field(default_factory=Counter)  # agent, key

    def add(self, other: "Cells") -> None:
        for name in (
            "created",
            "finished",
            "rejected",
            "run_time",
            "tenants",
            "queued",
            "floors",
            "spend",
            "spend_keys",
        ):
            getattr(self, name).update(getattr(other, name))


def parse_cells(data: dict[str, Any]) -> Cells:
    cells = Cells()
    for name, value in data.items():
        parts, n = name.split("/"), int(value) if isinstance(value, int | float) else 0
        kind = parts[0]
        if kind == "c" and len(parts) == 3:
            cells.created[(parts[1], parts[2])] += n
        elif kind == "s" and len(parts) == 4:
            cells.finished[(parts[1], parts[2], parts[3])] += n
        elif kind == "r" and len(parts) == 4:
            cells.rejected[(parts[1], parts[2], parts[3])] += n
        elif kind == "h" and len(parts) == 3 and parts[2].isdigit():
            cells.run_time[(parts[1], int(parts[2]))] += n
        elif kind == "t" and len(parts) == 2:
            cells.tenants[parts[1]] += n
        elif kind == "q" and len(parts) == 3:
            cells.queued[(parts[1], parts[2])] += n
        elif kind == "$" and len(parts) == 3:
            cells.spend[(parts[1], parts[2])] += n
    _legacy(cells, data)
    return cells


def parse_key_cells(data: dict[str, Any], month: date, key_id: str) -> dict[date, Cells]:
    """A key's month item (`<DD>/c/<agent>`, `<DD>/s/<status>/<agent>`,
    `<DD>/r/<limit>/<agent>`), as cells of that key per day."""
    result: dict[date, Cells] = {}
    for name, value in data.items():
        parts = name.split("/")
        if not parts[0].isdigit() or not isinstance(value, int | float):
            continue
        cells = result.setdefault(month.replace(day=int(parts[0])), Cells())
        kind, dims, n = parts[1], tuple(parts[2:]), int(value)
        if kind == "c" and len(dims) == 1:
            cells.created[(dims[0], key_id)] += n
        elif kind == "s" and len(dims) == 2:
            cells.finished[(dims[0], dims[1], key_id)] += n
        elif kind == "r" and len(dims) == 2:
            cells.rejected[(dims[0], dims[1], key_id)] += n
        elif kind == "$" and len(dims) == 1:
            cells.spend_keys[(dims[0], key_id)] += n
    return result


def with_keys(whole: Cells, keyed: Cells) -> Cells:
    """A tenant's day as one item held it before the per-key items existed. `whole` is its
    day items: their `-` cells count every dispatch since (and those without a key before),
    their key cells (a day counted before) their key's. `keyed` is the keys' month items:
    each key gets its own counts, and `-` (no key) keeps what the keys do not account for."""
    result = Cells()
    result.add(whole)
    result.spend_keys.update(keyed.spend_keys)  # spend by key is only ever on the key months
    for name in ("created", "finished", "rejected"):
        counts: Counter[Any] = getattr(result, name)
        own: Counter[Any] = getattr(keyed, name)
        counts.update(own)
        accounted: Counter[Any] = Counter()
        for dims, n in own.items():
            accounted[(*dims[:-1], NO_KEY)] += n
        for rest, n in accounted.items():
            # Never below 0: the items are read eventually consistent, one may trail another.
            counts[rest] = max(0, counts[rest] - n)
            if not counts[rest]:
                del counts[rest]
    return result


def _legacy(cells: Cells, data: dict[str, Any]) -> None:
    """What a day item counted before the cells existed holds: per agent and per status
    only. Each kind counts only where the item has no cells of that kind (an item holding
    both names each count twice: the stream writes `status_<s>` beside its `s/` cells)."""
    created, finished = not cells.created, not cells.finished
    for name, value in data.items():
        if created and name.startswith("agent_"):
            cells.created[(name[6:], NO_KEY)] += int(value)
        elif finished and name.startswith("status_") and name[7:] in FINISHED:
            cells.finished[(name[7:], NO_KEY, NO_KEY)] += int(value)


@dataclass(frozen=True)
class Filters:
    agent: str = ""
    key_id: str = ""

    def match(self, agent: str, key: str) -> bool:
        return (not self.agent or agent == self.agent) and (not self.key_id or key == self.key_id)


@dataclass(frozen=True)
class RunTime:
    """Percentiles from the histogram: the upper bound of the bucket holding that rank."""

    agent: str
    runs: int
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class TopTenant:
    tenant_id: str
    name: str
    dispatches: int


def percentile(histogram: Counter[int], fraction: float) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(fraction * total)), 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return float(RUN_TIME_BOUNDS[min(bucket, len(RUN_TIME_BOUNDS) - 1)])
    return None


def run_time(agent: str, histogram: Counter[int]) -> RunTime:
    return RunTime(
        agent, sum(histogram.values()), percentile(histogram, 0.5), percentile(histogram, 0.95)
    )


@dataclass(frozen=True)
class DayUsage:
    day: date
    by_status: dict[str, int]
    by_agent: dict[str, int]
    by_key: dict[str, int]
    rejections: dict[str, int]
    run_time: dict[str, RunTime]
    by_tenant: dict[str, int]
    # Spend (micro-USD) of the dispatches that ended that day: in all, by agent, by model
    # (not under a key filter: the key months count by agent only), by key ("-": no key).
    spend: int = 0
    spend_by_agent: dict[str, int] = field(default_factory=dict)
    spend_by_model: dict[str, int] = field(default_factory=dict)
    spend_by_key: dict[str, int] = field(default_factory=dict)

    @property
    def dispatches(self) -> int:
        return sum(self.by_agent.values())

    @property
    def spend_usd(self) -> float:
        return self.spend / 1_000_000

    def spend_usd_by(self, dimension: str) -> dict[str, float]:
        amounts: dict[str, int] = getattr(self, f"spend_by_{dimension}")
        return {name: n / 1_000_000 for name, n in sorted(amounts.items())}

    @property
    def run_times(self) -> list[RunTime]:
        return list(self.run_time.values())


def day_usage(day: date, cells: Cells, filters: Filters) -> DayUsage:
    created = {k: n for k, n in cells.created.items() if filters.match(*k)}
    finished = {k: n for k, n in cells.finished.items() if filters.match(k[1], k[2])}
    by_status = {
        API_NAMES.get(s, s): sum(n for k, n in finished.items() if k[0] == s) for s in FINISHED
    }
    total = sum(created.values())
    by_status["active"] = max(0, total - sum(by_status.values()))
    histograms: dict[str, Counter[int]] = {}
    for (agent, bucket), n in cells.run_time.items():
        if not filters.agent or agent == filters.agent:
            histograms.setdefault(agent, Counter())[bucket] += n
    return DayUsage(
        day=day,
        by_status=by_status,
        by_agent=_sum_by(created, 0),
        by_key=_sum_by(created, 1),
        rejections={
            limit: sum(
                n for k, n in cells.rejected.items() if k[0] == limit and filters.match(k[1], k[2])
            )
            for limit in LIMITS
        },
        run_time={agent: run_time(agent, h) for agent, h in sorted(histograms.items())},
        by_tenant=dict(cells.tenants),
        **_spend(cells, filters),
    )


def _spend(cells: Cells, filters: Filters) -> dict[str, Any]:
    keyed = {k: n for k, n in cells.spend_keys.items() if filters.match(*k) and n}
    by_key = _sum_by(keyed, 1)
    if filters.key_id:
        return {
            "spend": sum(keyed.values()),
            "spend_by_agent": _sum_by(keyed, 0),
            "spend_by_key": by_key,
        }
    spent = {k: n for k, n in cells.spend.items() if n and filters.match(k[0], NO_KEY)}
    total = sum(spent.values())
    unkeyed = total - sum(by_key.values())
    if unkeyed > 0:
        by_key[NO_KEY] = unkeyed
    return {
        "spend": total,
        "spend_by_agent": _sum_by(spent, 0),
        "spend_by_model": _sum_by(spent, 1),
        "spend_by_key": by_key,
    }


def _sum_by(counts: dict[Any, int], position: int) -> dict[str, int]:
    result: Counter[str] = Counter()
    for dims, n in counts.items():
        result[dims[position]] += n
    return dict(result)


@dataclass(frozen=True)
class UsageReport:
    since: date
    until: date
    days: list[DayUsage]
    totals: DayUsage
    agents: list[str]
    keys: list[str]
    top_tenants: list[TopTenant] = field(default_factory=list)
    # False when a range of several days might rank a tenant the lists left out (see
    # `top_exact`); a single day's top tenants are always exact.
    top_tenants_exact: bool = True

    @property
    def dispatches(self) -> int:
        return self.totals.dispatches


def top_exact(days: list[Cells], top: list[tuple[str, int]]) -> bool:
    """Whether `top` (ranked from the days' top lists, summed) is the range's true top list.

    A day's lists hold each shard's K largest, so a tenant missing from a full list that day
    created at most that list's smallest count (`floors`). A tenant's true total is then at
    least its listed sum and at most that plus its shard's floors on the days it is missing.
    The ranking is exact when every tenant shown is fully counted and nobody else (listed or
    not) can reach the last one shown. On one day it always is (the union of the lists holds
    the day's top K); over several, a tenant just below the lists every day could tie it.
    """
    if len(days) <= 1 or not any(c.floors[s] for c in days for s in c.floors):
        return True  # one day, or every list complete: the sums are every tenant's totals
    shown = dict(top)

    def most(tenant_id: str) -> int:
        shard = tenant_shard(tenant_id)
        return sum(c.tenants[tenant_id] or c.floors[shard] for c in days)

    if any(most(t) != n for t, n in shown.items()):
        return False
    last = min(shown.values(), default=0)
    listed = {t for c in days for t in c.tenants} - set(shown)
    uncertain = [m for t in listed if (m := most(t)) != sum(c.tenants[t] for c in days)]
    unlisted = max(sum(c.floors[s] for c in days) for s in range(DAY_SHARDS))
    return max([unlisted, *uncertain]) < last


def days_between(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


def report(
    since: date, until: date, cells_by_day: dict[date, Cells], filters: Filters
) -> UsageReport:
    days = [day_usage(d, cells_by_day.get(d, Cells()), filters) for d in days_between(since, until)]
    everything = Cells()
    for cells in cells_by_day.values():
        everything.add(cells)
    totals = day_usage(until, everything, filters)
    return UsageReport(
        since=since,
        until=until,
        days=days,
        totals=totals,
        agents=sorted(a for a, n in totals.by_agent.items() if n),
        keys=sorted(k for k, n in totals.by_key.items() if n),
    )


@dataclass(frozen=True)
class DailyUsage:
    day: date
    dispatches: int = 0
    by_agent: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
