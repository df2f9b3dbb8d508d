"""Bulk actions by filter: cancel, or run again, every dispatch of one tenant that a history
filter matches, in the background, with its progress kept (issue 14, point 4).

A job lives under its tenant in the tenants table (no item shared by tenants):

- `sk = BULK#<job id>`: the action, the dispatches it applies to (at most MAX_DISPATCHES,
  chosen when the person confirmed), who asked, the filters, and `runner_until`, the lease
  of the thread working on it;
- `sk = BULK#<job id>#<nnn>`: the outcome of chunk n (CHUNK dispatches): each done (with the
  new dispatch of a re-run) or failed with its reason. Written once (conditional), after the
  chunk's dispatches were handled.

The job and its one audit record (the action, its count and the filters) are written in one
transaction. A thread of the web process works through the chunks; if the process dies, the
progress page finds the lease run out and starts another, which goes on from the first chunk
without an outcome. Going over a chunk twice changes nothing: a cancel of a dispatch that
ended is no change, a re-run's idempotency key is the job's and the dispatch's, so it returns
the dispatch the first pass created. Re-runs go through the create's transaction, so quotas
hold; a refusal is that dispatch's failure, with the limit named.
"""

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ulid import ULID

from outpost_admin.audit import Actor
from outpost_admin.audit.services import audit_event
from outpost_admin.audit.storage import audit_action
from outpost_admin.dynamo import (
    Conflict,
    NotFound,
    StoreError,
    call,
    from_item,
    iso,
    parse_iso,
    to_item,
    transact,
    utcnow,
    values,
)
from outpost_admin.dynamo.tables import TENANTS
from tenants import budgets
from tenants import selectors as tenant_selectors

from . import lifecycle, selectors
from .domain import (
    BudgetExceeded,
    Dispatch,
    IdempotencyInFlight,
    InvalidTransition,
    QuotaExceeded,
    StillActive,
    TenantNotActive,
)

logger = logging.getLogger(__name__)

ACTIONS = {"cancel": "Cancel", "rerun": "Run again"}
MAX_DISPATCHES = 500  # one job: its ids stay well under an item's size (~20 KB)
CHUNK = 50
LEASE = timedelta(seconds=60)
BULK = "BULK#"


@dataclass(frozen=True)
class Job:
    tenant_id: str
    job_id: str
    action: str
    dispatch_ids: tuple[str, ...]
    query: str
    actor: Actor
    created_at: datetime
    runner_until: datetime | None = None
    done: list[tuple[str, str]] = field(default_factory=list)  # (dispatch, new dispatch or "")
    failed: list[tuple[str, str]] = field(default_factory=list)  # (dispatch, reason)

    @property
    def remaining(self) -> int:
        return len(self.dispatch_ids) - len(self.done) - len(self.failed)

    @property
    def handled(self) -> int:
        return len(self.done) + len(self.failed)

    @property
    def finished(self) -> bool:
        return self.remaining == 0

    def chunks(self) -> list[tuple[str, ...]]:
        ids = self.dispatch_ids
        return [ids[n : n + CHUNK] for n in range(0, len(ids), CHUNK)]


def applies_to(action: str, dispatch: Dispatch) -> bool:
    """Cancel: what is pending or running. Run again: what has ended."""
    return dispatch.status.is_terminal == (action == "rerun")


# --- storage --------------------------------------------------------------------------------


def _key(tenant_id: str, sk: str) -> dict[str, Any]:
    return to_item({"tenant_id": tenant_id, "sk": sk})


def job_start(
    *, tenant_id: str, action: str, dispatch_ids: list[str], query: str, actor: Actor
) -> str:
    """Record the job and its audit record together; the caller then starts `run`."""
    job_id = str(ULID())
    item = {
        "tenant_id": tenant_id,
        "sk": f"{BULK}{job_id}",
        "action": action,
        "dispatch_ids": dispatch_ids[:MAX_DISPATCHES],
        "query": query,
        "actor": {
            "name": actor.name,
            "request_id": actor.request_id,
            "ip_address": actor.ip_address,
            "user_agent": actor.user_agent[:512],
        },
        "created_at": iso(utcnow()),
    }
    event = audit_event(
        tenant_id=tenant_id,
        action=f"dispatch.bulk_{action}",
        resource=f"bulk/{job_id}",
        actor=actor,
        metadata={"count": len(item["dispatch_ids"]), "filters": query or "(none)"},
    )
    put = {"TableName": TENANTS.name, "Item": to_item(item)}
    transact([("job", {"Put": put}), audit_action(event)])
    return job_id


def job_get(tenant_id: str, job_id: str) -> Job:
    """The job and its chunks' outcomes: one Query. NotFound under another tenant."""
    response = call(
        "query",
        TableName=TENANTS.name,
        KeyConditionExpression="tenant_id = :t AND begins_with(sk, :p)",
        ExpressionAttributeValues=values({":t": tenant_id, ":p": f"{BULK}{job_id}"}),
        ConsistentRead=True,
    )
    items = [from_item(i) for i in response["Items"]]
    head = next((i for i in items if i["sk"] == f"{BULK}{job_id}"), None)
    if head is None:
        raise NotFound(f"bulk job {job_id}")
    done, failed = [], []
    for chunk in (i for i in items if i is not head):
        done += [tuple(pair) for pair in chunk.get("done", [])]
        failed += [tuple(pair) for pair in chunk.get("failed", [])]
    until = head.get("runner_until")
    return Job(
        tenant_id=tenant_id,
        job_id=job_id,
        action=head["action"],
        dispatch_ids=tuple(head["dispatch_ids"]),
        query=head.get("query", ""),
        actor=Actor(**head["actor"]),
        created_at=parse_iso(head["created_at"]) or utcnow(),
        runner_until=parse_iso(until) if until else None,
        done=done,
        failed=failed,
    )


def _chunks_recorded(tenant_id: str, job_id: str) -> set[int]:
    response = call(
        "query",
        TableName=TENANTS.name,
        KeyConditionExpression="tenant_id = :t AND begins_with(sk, :p)",
        ExpressionAttributeValues=values({":t": tenant_id, ":p": f"{BULK}{job_id}#"}),
        ProjectionExpression="sk",
        ConsistentRead=True,
    )
    return {int(from_item(i)["sk"].rsplit("#", 1)[1]) for i in response["Items"]}


def _lease_take(job: Job, *, holder: str, now: datetime) -> bool:
    try:
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=_key(job.tenant_id, f"{BULK}{job.job_id}"),
            UpdateExpression="SET runner_until = :until, runner = :me",
            ConditionExpression="attribute_exists(sk) AND "
            "(attribute_not_exists(runner_until) OR runner_until < :now OR runner = :me)",
            ExpressionAttributeValues=values(
                {":until": iso(now + LEASE), ":now": iso(now), ":me": holder}
            ),
        )
    except Conflict:
        return False
    return True


def _outcome_put(job: Job, n: int, done: list, failed: list) -> None:
    item: dict[str, Any] = {"tenant_id": job.tenant_id, "sk": f"{BULK}{job.job_id}#{n:03d}"}
    item.update({"done": [list(p) for p in done], "failed": [list(p) for p in failed]})
    with contextlib.suppress(Conflict):  # another runner recorded this chunk first: it stands
        call(
            "put_item",
            TableName=TENANTS.name,
            Item=to_item(item),
            ConditionExpression="attribute_not_exists(sk)",
        )


# --- the work -------------------------------------------------------------------------------


def start(job: Job) -> bool:
    """Work on the job in a thread of this process, unless a live runner has it."""
    if job.finished or (job.runner_until and job.runner_until > utcnow()):
        return False
    threading.Thread(target=run, args=(job.tenant_id, job.job_id), daemon=True).start()
    return True


def run(tenant_id: str, job_id: str) -> None:
    """Every chunk without an outcome, in order, under the job's lease."""
    holder = str(ULID())
    try:
        job = job_get(tenant_id, job_id)
        recorded = _chunks_recorded(tenant_id, job_id)
        for n, ids in enumerate(job.chunks()):
            if n in recorded:
                continue
            if not _lease_take(job, holder=holder, now=utcnow()):
                return  # another runner has it
            done, failed = _handle(job, list(ids))
            _outcome_put(job, n, done, failed)
    except Exception:  # the progress page starts another runner once the lease ends
        logger.exception("bulk job %s stopped", job_id)


def _handle(job: Job, ids: list[str]) -> tuple[list, list]:
    found = {
        d.dispatch_id: d
        for d in selectors.dispatch_refresh(tenant_id=job.tenant_id, dispatch_ids=ids)
    }
    tenant = tenant_selectors.tenant_get(tenant_id=job.tenant_id) if job.action == "rerun" else None
    done: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    for dispatch_id in ids:
        dispatch = found.get(dispatch_id)
        if dispatch is None:
            failed.append((dispatch_id, "Not found: it expired or was deleted."))
            continue
        try:
            new_id = _apply(job, dispatch, tenant)
        except StoreError:
            raise  # the store, not the dispatch: the chunk is done again by the next runner
        except Exception as exc:  # this dispatch's refusal: reported, the others go on
            failed.append((dispatch_id, _reason(exc)))
        else:
            done.append((dispatch_id, new_id))
    return done, failed


def _apply(job: Job, dispatch: Dispatch, tenant: Any) -> str:
    if job.action == "cancel":
        lifecycle.dispatch_cancel(dispatch=dispatch, actor=job.actor)
        return ""
    try:
        created = lifecycle.dispatch_rerun(
            original=dispatch,
            api_key_id="",
            limits=tenant.limits,
            idempotency_key=f"bulk-{job.job_id}-{dispatch.dispatch_id}",
            render=lambda d: {"dispatchId": d.dispatch_id},
            actor=job.actor,
        )
    except lifecycle.Replay as replay:  # this chunk was begun by a runner that died
        return replay.dispatch_id or str((replay.response or {})["dispatchId"])
    return created.dispatch_id


def _reason(exc: Exception) -> str:
    if isinstance(exc, BudgetExceeded):
        whose = "key's" if exc.limit == "key_budget" else "tenant's"
        return (
            f"Refused: this month's spend of {budgets.usd(exc.current)} has reached the "
            f"{whose} budget of {budgets.usd(exc.maximum)}."
        )
    if isinstance(exc, QuotaExceeded):
        return f"Refused: the tenant's {exc.limit} limit of {exc.maximum} is reached."
    if isinstance(exc, InvalidTransition):
        return "Already ended: nothing to cancel."
    if isinstance(exc, StillActive):
        return "Still pending or running: only an ended dispatch runs again."
    if isinstance(exc, IdempotencyInFlight):
        return "Being created by another runner of this job."
    if isinstance(exc, TenantNotActive):
        return "Refused: the tenant is not active."
    logger.exception("bulk: %s", exc)
    return f"Not done: {type(exc).__name__}."
