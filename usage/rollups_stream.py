"""The usage roll-ups, counted from the dispatches' stream: a batch at a time, exactly once.

No create, claim or finish transaction writes an analytics cell (they keep the tenant's
quota items only). The stream handler gives this module a batch of dispatch images; for each
dispatch, its last image in the batch says what has happened to it so far, and marks on the
dispatch item say what has been counted:

- `counted_created` (ours) or `started_day` (the control plane's, which lack it): created,
  counted in the tenant's day item and the day across tenants (top tenants included);
- `queue_in` / `queue_out` (ours): how many times it entered the queue (1 + interruptions)
  and left it, counted in the queue items (rollups.queue_keys);
- `counted_outcome`: its outcome, run time and five-minute bucket.

A create refused by a limit leaves no dispatch: its `REFUSED#` item (tenants table) is
counted by `count_refusal`, which deletes it in the same transaction, so it counts once.

The marks are read first (one BatchGetItem, consistent), then every dispatch's new marks,
each conditional on the marks it read, go in ONE transaction with the batch's cells added
up per roll-up item (up to 100 actions; more dispatches, more transactions). A replayed
batch, or one processed again after a consumer died half-way, finds the marks moved and
counts nothing twice: a transaction whose marks moved meanwhile is cancelled whole, read
again and redone. Roll-up items are written once per batch, not once per dispatch.

Dispatches of ours written before this (no `counted_by`) were counted by their own
transactions: only their outcome, if they end after the upgrade, is counted here.
"""

import contextlib
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dispatches import history_index
from dispatches.domain import COUNTED_BY_STREAM, Dispatch, DispatchStatus
from outpost_admin.dynamo import (
    Action,
    Conflict,
    TransactionConflict,
    call,
    from_item,
    iso,
    to_item,
    transact,
    values,
)
from outpost_admin.dynamo.tables import DISPATCHES, TENANTS
from tenants import counters
from usage import rollups, top_tenants

logger = logging.getLogger(__name__)

MARKS = ("started_day", "counted_created", "counted_outcome", "queue_in", "queue_out", "status")
MAX_ACTIONS = 100  # TransactWriteItems' limit
TRIES = 3

Key = tuple[tuple[str, str], ...]  # a roll-up item's key, hashable


class StillMoving(Exception):
    """These dispatches' marks kept moving under three tries: their records are retried."""

    def __init__(self, dispatch_ids: list[str]):
        super().__init__(f"roll-ups of {', '.join(dispatch_ids)} kept moving")
        self.dispatch_ids = dispatch_ids


@dataclass
class Step:
    """What one dispatch still needs counted: its new marks and the cells they add."""

    dispatch_id: str
    marks: dict[str, Any]
    expected: dict[str, Any]  # the marks as read (None: absent); the write requires them
    cells: dict[Key, Counter[str]] = field(default_factory=dict)

    def add(self, key: dict[str, Any], names: list[str], n: int = 1) -> None:
        counter = self.cells.setdefault(_hashable(key), Counter())
        for name in names:
            counter[name] += n


def count_images(images: list[dict[str, Any]]) -> None:
    """Count what these dispatch images (new images, stream order) still need counted."""
    latest: dict[str, dict[str, Any]] = {}
    for image in images:
        if "dispatch_id" in image:
            latest[image["dispatch_id"]["S"]] = image
    pending = dict(latest)
    for attempt in range(TRIES):
        if not pending:
            break
        marks = _marks(list(pending))
        steps = [s for i, image in pending.items() if (s := _step(image, marks.get(i)))]
        pending = {i: latest[i] for i in _apply(steps)}
        if pending and attempt < TRIES - 1:
            logger.info("roll-ups: %d dispatch(es) moved meanwhile; reading again", len(pending))
    # After the counts, whatever they were: a batch seen again after a consumer died between
    # its transactions and this merge finds its steps empty, yet merges the same tenants.
    top_tenants.top_tenants_merge({p for image in images if (p := _uncounted_creation(image))})
    if pending:
        raise StillMoving(sorted(pending))


def _uncounted_creation(image: dict[str, Any]) -> tuple[str, date] | None:
    """The tenant and day of a dispatch whose image shows its creation not counted yet (so
    this batch counts it, or counted it in a run that died): its rank may have moved."""
    if "dispatch_id" not in image:
        return None
    from dispatches.selectors import dispatch_from_item

    d = dispatch_from_item(image)
    new_layout = image.get("counted_by") == {"S": COUNTED_BY_STREAM}
    if (new_layout and "counted_created" not in image) or (
        not d.is_ours and "started_day" not in image
    ):
        return d.tenant_id, d.started_at.date()
    return None


def _marks(dispatch_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The marks of these dispatches as they are now (those that still exist)."""
    found: dict[str, dict[str, Any]] = {}
    names = {f"#m{i}": m for i, m in enumerate(("dispatch_id", *MARKS))}
    for start in range(0, len(dispatch_ids), 100):
        request: dict[str, Any] = {
            "Keys": [to_item({"dispatch_id": i}) for i in dispatch_ids[start : start + 100]],
            "ConsistentRead": True,
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
        }
        pending = {DISPATCHES.name: request}
        while pending:
            response = call("batch_get_item", RequestItems=pending)
            for item in response["Responses"].get(DISPATCHES.name, []):
                data = from_item(item)
                found[data["dispatch_id"]] = data
            pending = response.get("UnprocessedKeys") or {}
    return found


# --- what a dispatch still needs ------------------------------------------------------------


def _step(image: dict[str, Any], live: dict[str, Any] | None) -> Step | None:
    if live is None:
        return None  # gone (TTL): whatever it held is given back by recovery's slot sweep
    from dispatches.selectors import dispatch_from_item

    dispatch = dispatch_from_item(image)
    step = Step(dispatch.dispatch_id, marks={}, expected={})
    new_layout = image.get("counted_by") == {"S": COUNTED_BY_STREAM}
    _created(step, dispatch, live, new_layout=new_layout)
    if new_layout:
        _queue(step, dispatch, live)
    _outcome(step, dispatch, live)
    return step if step.marks else None


def _expect(step: Step, live: dict[str, Any], name: str, value: Any) -> None:
    step.marks[name] = value
    step.expected[name] = live.get(name)


def _created(step: Step, d: Dispatch, live: dict[str, Any], *, new_layout: bool) -> None:
    day = d.started_at.date()
    if new_layout and "counted_created" not in live:
        _expect(step, live, "counted_created", iso(d.started_at))
    elif not d.is_ours and "started_day" not in live:
        _expect(step, live, "started_day", iso(d.started_at)[:10])
        for name, value in history_index.listed(d.dispatch_id, d.task).items():
            _expect(step, live, name, value)  # into staff's history (absent: not in MARKS)
        # No create of ours counted it for the daily limit: the quota item counts it here.
        step.add(counters.usage_key(d.tenant_id, day), ["dispatches"])
    else:
        return
    cells = [f"agent_{d.agent}", rollups.created_cell(d.agent, "")]
    step.add(rollups.usage_cells_key(d.tenant_id, day), cells)
    if d.api_key_id:
        key_month = rollups.key_month_key(d.tenant_id, day, d.api_key_id)
        step.add(key_month, [rollups.key_created_cell(day, d.agent)])
    step.add(rollups.tenant_shard_key(d.tenant_id, day), [rollups.created_cell(d.agent, "")])


def _queue(step: Step, d: Dispatch, live: dict[str, Any]) -> None:
    """In the queue once per entry (its creation, each re-queue), out once per exit."""
    entered = 1 + d.interruptions
    left = d.interruptions if d.status == DispatchStatus.PENDING else entered
    was_in, was_out = int(live.get("queue_in", 0)), int(live.get("queue_out", 0))
    now_in = max(was_in, entered)
    now_out = max(was_out, min(left, now_in))
    if now_in != was_in:
        _expect(step, live, "queue_in", now_in)
    if now_out != was_out:
        _expect(step, live, "queue_out", now_out)
    if delta := (now_in - was_in) - (now_out - was_out):
        key = rollups.tenant_queue_key(d.tenant_id)
        step.add(key, [rollups.waiting_cell(d.agent, d.started_at)], delta)


def _outcome(step: Step, d: Dispatch, live: dict[str, Any]) -> None:
    if not d.status.is_terminal or "counted_outcome" in live:
        return
    if live.get("status") != str(d.status):
        return  # the image is older than the item: its own record comes later
    _expect(step, live, "counted_outcome", str(d.status))
    ended = d.ended_at or d.started_at
    run = (ended - d.claimed_at).total_seconds() if d.claimed_at else None
    status = d.status.value
    cells = rollups.finish_cells(
        status=status, agent=d.agent, key_id="", run_seconds=run, with_key=False
    )
    day = d.started_at.date()
    step.add(rollups.usage_cells_key(d.tenant_id, day), [f"status_{status.lower()}", *cells])
    if d.api_key_id:
        key_month = rollups.key_month_key(d.tenant_id, day, d.api_key_id)
        step.add(key_month, [rollups.key_finished_cell(day, status, d.agent)])
    step.add(rollups.tenant_shard_key(d.tenant_id, day), cells)
    five = rollups.finished_five_key(d.dispatch_id, ended)
    step.add(five, [rollups.finished_cell(status, d.agent, "")])
    _spend(step, d, ended)


def _spend(step: Step, d: Dispatch, ended: datetime) -> None:
    """What it cost, counted with its outcome (so once) on the day it ended: the tenant's
    day by agent and model, its key's month by agent, and the day across tenants."""
    micros = round(float(str((d.cost or {}).get("total", 0))) * 1_000_000)
    if micros <= 0:
        return
    day = ended.date()
    cell = rollups.spend_cell(d.agent, d.model_id)
    step.add(rollups.usage_cells_key(d.tenant_id, day), [cell], micros)
    step.add(rollups.tenant_shard_key(d.tenant_id, day), [cell], micros)
    if d.api_key_id:
        key_month = rollups.key_month_key(d.tenant_id, day, d.api_key_id)
        step.add(key_month, [rollups.key_spend_cell(day, d.agent)], micros)


# --- writing ----------------------------------------------------------------------------------


def _apply(steps: list[Step]) -> set[str]:
    """Write the steps, a transaction per group; returns the dispatches whose marks moved."""
    moved: set[str] = set()
    for group in _groups(steps):
        try:
            transact(_actions(group))
        except TransactionConflict:
            # Cancelled whole (marks moved by a replay, or another transaction on the same
            # roll-up item at that moment): read this group's marks again and redo it.
            moved |= {s.dispatch_id for s in group}
            continue
        _tidy_queue(group)
    return moved


def _groups(steps: list[Step]) -> list[list[Step]]:
    """Steps packed so that each transaction's dispatches and roll-up items fit in it."""
    groups: list[list[Step]] = []
    group: list[Step] = []
    keys: set[Key] = set()
    for step in steps:
        more = keys | set(step.cells)
        if group and len(group) + 1 + len(more) > MAX_ACTIONS:
            groups.append(group)
            group, more = [], set(step.cells)
        group.append(step)
        keys = more
    return [*groups, group] if group else groups


def _name(step: Step) -> str:
    return f"dispatch {step.dispatch_id}"


def _actions(group: list[Step]) -> list[Action]:
    totals: dict[Key, Counter[str]] = defaultdict(Counter)
    for step in group:
        for key, cells in step.cells.items():
            totals[key].update(cells)
    actions = [(_name(s), {"Update": _mark(s)}) for s in group]
    for number, (key, cells) in enumerate(totals.items()):
        amounts = {cell: n for cell, n in cells.items() if n}
        if amounts:
            add = rollups.add_action(TENANTS.name, _typed(key), amounts)
            actions.append((f"roll-up {number}", add))
    return actions


def _mark(step: Step) -> dict[str, Any]:
    names = {f"#m{i}": name for i, name in enumerate(step.marks)}
    sets = [f"#m{i} = :m{i}" for i in range(len(step.marks))]
    conditions = ["attribute_exists(dispatch_id)"]
    vals: dict[str, Any] = {f":m{i}": v for i, v in enumerate(step.marks.values())}
    for i, name in enumerate(step.marks):
        seen = step.expected[name]
        if seen is None:
            conditions.append(f"attribute_not_exists(#m{i})")
        else:
            conditions.append(f"#m{i} = :e{i}")
            vals[f":e{i}"] = seen
    return {
        "TableName": DISPATCHES.name,
        "Key": to_item({"dispatch_id": step.dispatch_id}),
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values(vals),
    }


def _tidy_queue(group: list[Step]) -> None:
    """Remove the queue cells this group brought to zero (conditionally: a cell that another
    batch moved meanwhile stays), so a queue item holds only hours with someone waiting."""
    queue = {_hashable(k) for k in rollups.queue_keys()}
    lowered = {
        (key, cell)
        for step in group
        for key, cells in step.cells.items()
        if key in queue
        for cell, n in cells.items()
        if n < 0
    }
    for key, cell in lowered:
        _remove_if_zero(_typed(key), cell)


def _remove_if_zero(key: dict[str, Any], cell: str) -> None:
    with contextlib.suppress(Conflict):  # someone is waiting in that hour again
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=key,
            UpdateExpression="REMOVE #c",
            ConditionExpression="#c = :zero",
            ExpressionAttributeNames={"#c": cell},
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )


def _hashable(key: dict[str, Any]) -> Key:
    return tuple(sorted((name, value["S"]) for name, value in key.items()))


def _typed(key: Key) -> dict[str, Any]:
    return to_item(dict(key))


def count_refusal(item: dict[str, Any]) -> bool:
    """Count one refused create (its `REFUSED#` item, from the tenants' stream) in the
    tenant's day and the day across tenants, deleting the item in the same transaction:
    False when it is gone already (counted before: a replayed record)."""
    tenant_id, day = str(item["tenant_id"]), date.fromisoformat(str(item["refused_at"])[:10])
    cells = rollups.on_reject(
        TENANTS.name,
        tenant_id=tenant_id,
        limit=str(item["limit"]),
        agent=str(item["agent"]),
        key_id=str(item.get("api_key_id", "")),
        day=day,
    )
    delete = {
        "TableName": TENANTS.name,
        "Key": to_item({"tenant_id": tenant_id, "sk": item["sk"]}),
        "ConditionExpression": "attribute_exists(sk)",
    }
    try:
        transact([("refusal", {"Delete": delete}), *cells.items()])
    except TransactionConflict as exc:
        if exc.failed("refusal"):
            return False
        raise
    return True
