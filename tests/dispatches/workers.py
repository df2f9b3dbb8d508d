"""Helpers for worker tests: dispatches created through the service, workers bound to a tenant.

The status index is shared by the whole session, so every worker here only claims its own
tenant's dispatches.
"""

import json
import sys
import threading
import time
import uuid
from dataclasses import replace

from dispatches import lifecycle as services
from dispatches import storage
from dispatches.domain import AGENTS, Dispatch, DispatchStatus
from dispatches.lifecycle import DispatchInput
from fleet.worker import Worker
from outpost_admin.audit import Actor
from outpost_admin.dynamo import utcnow

ACTOR = Actor(name="tester", request_id="req-test")


def script(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def use_commands(settings, **by_agent: list[str]) -> None:
    settings.OUTPOST_AGENT_COMMANDS = json.dumps(by_agent)


def create(
    tenant,
    *,
    agent="claude",
    timeout=60,
    task="Fix the failing test in utils.py",
    key_id="",
    tags=None,
) -> Dispatch:
    data = DispatchInput(
        agent=agent,
        task=task,
        model_id=AGENTS[agent].default_model,
        repo="acme/widgets",
        branch="main",
        timeout_seconds=timeout,
        tags=tags or {},
    )
    return services.dispatch_create(
        tenant_id=tenant.tenant_id,
        api_key_id=key_id,
        limits=tenant.limits,
        data=data,
        body_hash="",
        render=lambda d: {},
        actor=ACTOR,
    )


def worker_for(tenant, **options) -> Worker:
    options.setdefault("worker_id", f"test-{uuid.uuid4().hex[:10]}")
    return Worker(tenant_id=tenant.tenant_id, poll_seconds=0.1, **options)


def in_background(worker: Worker, *, once: bool = True) -> threading.Thread:
    thread = threading.Thread(target=worker.run, kwargs={"once": once}, daemon=True)
    thread.start()
    return thread


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def logs(dispatch_id: str) -> str:
    return "".join(c.text for c in storage.log_tail(dispatch_id, chunks=200))


def status_of(dispatch_id: str):
    return storage.dispatch_get(dispatch_id).status


def a_dispatch(**fields) -> Dispatch:
    """A RUNNING dispatch that exists only in memory (for the pieces tested without a store)."""
    dispatch = Dispatch(
        dispatch_id="01JTESTDISPATCH",
        tenant_id="tenant-1",
        agent="claude",
        model_id="claude-opus-4-5-20251101",
        task="Fix the failing test in utils.py",
        status=DispatchStatus.RUNNING,
        started_at=utcnow(),
        repo="acme/widgets",
    )
    return replace(dispatch, **fields)
