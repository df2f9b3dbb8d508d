"""Issue 13: the write-sharded indexes replace the single-partition ones on existing tables.

Tables start in the layout before it (tenant-name-index, audit-day-index, dispatch-day-index,
projecting everything; items without `time_shard`/`task_head`). Pages keep listing them
before the upgrade (they fall back to the old indexes), and after `upgrade_layout` every
item is listed once, the old indexes are gone, and running it again changes nothing.
"""

import uuid
from dataclasses import replace
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from dispatches import history_index, selectors, storage
from dispatches.domain import DispatchStatus
from outpost_admin.audit import audit_list
from outpost_admin.audit import storage as audit_storage
from outpost_admin.dynamo import call, counting_calls, iso, to_item, utcnow
from outpost_admin.dynamo.tables import (
    ALL_TABLES,
    AUDIT,
    DISPATCHES,
    TENANTS,
    Index,
    _create,
    delete_tables,
    index_states,
)
from tenants import storage as tenant_storage


@pytest.fixture
def old_layout(settings):
    """Tables of our own, made as the version before issue 13 made them."""
    settings.DYNAMODB_TABLE_PREFIX = "upgtest"
    settings.DYNAMODB_TENANTS_TABLE = "upgtest-tenants"
    settings.DYNAMODB_API_KEYS_TABLE = "upgtest-api-keys"
    settings.DYNAMODB_AUDIT_TABLE = "upgtest-audit"
    old = {
        TENANTS.name: (
            Index("api_key-index", "api_key_hash"),
            Index("tenant-name-index", "sk", "nameLower"),
        ),
        AUDIT.name: (Index("audit-day-index", "day", "timestamp"),),
        DISPATCHES.name: (
            *(i for i in DISPATCHES.indexes if i.name != history_index.INDEX),
            Index("dispatch-day-index", "started_day", "started_at"),
        ),
    }
    for table in ALL_TABLES:
        _create(replace(table, indexes=old.get(table.name, table.indexes)))
    yield
    delete_tables()


def _old_tenant(name: str) -> str:
    tenant_id = str(uuid.uuid4())
    now = iso(utcnow())
    item = {
        "tenant_id": tenant_id,
        "sk": "TENANT",
        "tenantId": tenant_id,
        "name": name,
        "nameLower": name.lower(),
        "email": f"{tenant_id[:8]}@example.com",
        "tier": "pro",
        "status": "active",
        "createdAt": now,
        "updatedAt": now,
        "usageLimits": {
            "maxConcurrentJobs": 10,
            "maxJobsPerDay": 500,
            "maxJobTimeoutSeconds": 1800,
        },
        "currentUsage": {"concurrentJobs": 2, "jobsToday": 0, "lastResetDate": now[:10]},
    }
    call("put_item", TableName=TENANTS.name, Item=to_item(item))
    return tenant_id


def _old_audit(tenant_id: str, n: int) -> str:
    at = iso(utcnow() - timedelta(seconds=n))
    timestamp = f"{at}#{uuid.uuid4().hex[:8]}"
    item = {
        "tenant_id": tenant_id,
        "timestamp": timestamp,
        "day": at[:10],
        "action": "key.create",
        "resource": f"key/{n}",
        "actor": "old-version",
        "expires_at": int(utcnow().timestamp()) + 86400,
    }
    call("put_item", TableName=AUDIT.name, Item=to_item(item))
    return timestamp


def _old_dispatch(tenant_id: str, n: int) -> str:
    dispatch_id = f"OLD{n:04d}{uuid.uuid4().hex[:8]}"
    at = iso(utcnow() - timedelta(seconds=n))
    item = {
        "dispatch_id": dispatch_id,
        "user_id": tenant_id,
        "agent": "claude",
        "model_id": "m",
        "task": "t" * 20_000,
        "status": "COMPLETED",
        "started_at": at,
        "started_day": at[:10],
        "ended_at": at,
        "version": 3,
        "origin": "outpost-admin",
        "expires_at": int(utcnow().timestamp()) + 86400,
    }
    call("put_item", TableName=DISPATCHES.name, Item=to_item(item))
    return dispatch_id


def _every_page(list_page, limit):
    seen, cursor = [], None
    while True:
        page = list_page(cursor=cursor, limit=limit)
        seen += page.items
        if not page.cursor:
            return seen
        cursor = page.cursor


def _listed():
    today = utcnow().date()
    until = utcnow()
    since = until - timedelta(days=1)
    tenants = _every_page(lambda **p: tenant_storage.tenant_list(**p), 2)
    events = _every_page(lambda **p: audit_list(day=today, **p), 2)
    day = _every_page(lambda **p: storage.dispatch_list_day(day=today, **p), 2)
    ranged = _every_page(
        lambda **p: selectors.dispatch_list_range(since=since, until=until, **p), 2
    )
    return (
        [t.tenant_id for t in tenants],
        [e.timestamp for e in events],
        [d.dispatch_id for d in day],
        [d.dispatch_id for d in ranged],
    )


def test_pages_list_old_items_before_and_after_the_upgrade_once_each(old_layout):
    tenants = [_old_tenant(f"Old {n}") for n in range(5)]
    events = [_old_audit(tenants[n % 5], n) for n in range(7)]
    dispatches = [_old_dispatch(tenants[n % 5], n) for n in range(9)]

    # Before the upgrade: the sharded indexes are missing and every list reads the old one.
    listed_tenants, listed_events, day, ranged = _listed()
    assert sorted(listed_tenants) == sorted(tenants)
    assert listed_events == events  # newest first
    assert day == ranged == dispatches

    out = StringIO()
    call_command("upgrade_layout", stdout=out)
    report = out.getvalue()
    assert "audit-time-index: 7 item(s) given its key" in report
    assert f"{history_index.INDEX}: 9 item(s) given its key" in report
    for table, old, new in (
        (TENANTS, "tenant-name-index", "tenant-list-index"),
        (AUDIT, "audit-day-index", "audit-time-index"),
        (DISPATCHES, "dispatch-day-index", history_index.INDEX),
    ):
        states = index_states(table)
        assert old not in states and states[new] == "ACTIVE"

    listed_tenants, listed_events, day, ranged = _listed()
    assert sorted(listed_tenants) == sorted(tenants)
    assert listed_events == events
    assert day == ranged == dispatches
    # The new index holds the task's head only, and no counters for the tenant list.
    row = storage.dispatch_list_day(day=utcnow().date(), limit=1).items[0]
    assert row.task == "t" * history_index.TASK_HEAD and row.status == DispatchStatus.COMPLETED
    assert tenant_storage.tenant_list(limit=1).items[0].concurrent_jobs == 0

    again = StringIO()
    call_command("upgrade_layout", stdout=again)
    assert "given its key" not in again.getvalue() and "index" not in again.getvalue()
    assert _listed()[2] == dispatches


def test_before_the_upgrade_a_page_costs_one_failed_query_more(old_layout):
    _old_dispatch(_old_tenant("Fallback"), 1)
    with counting_calls() as calls:
        page = storage.dispatch_list_day(day=utcnow().date())
    assert len(page.items) == 1
    assert calls.operations == ["Query", "Query"]  # the sharded index (missing), the old one
    with counting_calls() as calls:
        audit_storage.audit_list()
    assert calls.operations == ["Query", "Query"]
