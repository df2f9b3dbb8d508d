"""What the create, claim and finish transactions write: only the dispatch's own items and its
tenant's quota items, never an item another tenant writes, and none of them large."""

import json
from collections import defaultdict
from typing import Any

import pytest

from dispatches import costs, storage
from dispatches import lifecycle as services
from dispatches.domain import DispatchStatus
from outpost_admin.dynamo import call, client, utcnow
from outpost_admin.dynamo.sizes import item_size
from outpost_admin.dynamo.tables import ALL_TABLES, TENANTS, WEBHOOKS
from tenants import services as tenant_services
from tenants import storage as tenant_storage
from tenants.counters import tenant_key
from tenants.domain import Scope
from tests.conftest import roll_up

from .conftest import BODY

TOKENS = costs.Tokens(20_000, 5_000, 25_000, "parsed")

pytestmark = pytest.mark.django_db

WRITES = ("TransactWriteItems", "UpdateItem", "PutItem", "DeleteItem")
ITEM_BOUND = 4096


@pytest.fixture
def captured():
    """Every item key each write names, with the operation, in order."""
    writes: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = []

    def capture(params, model, **_):
        body = json.loads(params["body"])
        if model.name == "TransactWriteItems":
            keys = [
                (action["TableName"], action.get("Key") or action["Item"])
                for entry in body["TransactItems"]
                for action in entry.values()
            ]
        else:
            keys = [(body["TableName"], body.get("Key") or body["Item"])]
        writes.append((model.name, keys))

    events = client().meta.events
    for operation in WRITES:
        events.register(f"before-call.dynamodb.{operation}", capture)
    yield writes
    for operation in WRITES:
        events.unregister(f"before-call.dynamodb.{operation}", capture)


def key_only(table: str, item: dict[str, Any]) -> dict[str, Any]:
    """The key attributes of an item written with Put (the whole item) or named by Key."""
    definition = next(t for t in ALL_TABLES if t.name == table)
    return {n: item[n] for n in (definition.hash_key, definition.range_key) if n}


def owner_of(table: str, key: dict[str, Any], dispatch_tenants: dict[str, str]) -> str:
    """The tenant an item belongs to, read from its key alone."""
    values = {name: next(iter(v.values())) for name, v in key.items()}
    if "dispatch_id" in values:
        return dispatch_tenants[values["dispatch_id"]]
    if "idempotency_key" in values:
        return values["idempotency_key"].split("#", 1)[0]
    if "apiKeyId" in values:
        return f"key {values['apiKeyId']}"
    if str(values.get("tenant_id", "")).startswith("SLOTS#"):
        return values["sk"].split("#", 1)[0]
    return values["tenant_id"]


def test_create_claim_and_finish_write_no_item_another_tenant_writes_and_none_over_4_kb(
    api, tenant_key, captured
):
    keys_of_tenant: dict[str, str] = {}
    dispatch_tenants: dict[str, str] = {}
    tenants = [tenant_key() for _ in range(3)]
    for _, key in tenants:
        api(key).get("/api/v1/me")  # the key verified and cached, as a busy client's is
    captured.clear()
    for tenant, key in tenants:
        for n in range(2):
            body = BODY | {"idempotencyKey": f"bounds-{n}"}
            created = api(key).post("/api/v1/dispatches", body).json()["data"]
            dispatch = storage.dispatch_get(created["dispatchId"])
            dispatch_tenants[dispatch.dispatch_id] = tenant.tenant_id
            keys_of_tenant[f"key {dispatch.api_key_id}"] = tenant.tenant_id
            claimed = storage.dispatch_claim(dispatch, worker_id="w-bounds", now=utcnow())
            assert claimed is not None
            # With tokens, so it costs something: its spend is added to the tenant's and
            # the key's budget items in the same transaction.
            services.dispatch_finish(claimed, status=DispatchStatus.COMPLETED, tokens=TOKENS)

    writers: dict[tuple[str, str], set[str]] = defaultdict(set)
    operations = []
    for operation, keys in captured:
        operations.append(operation)
        owners = {
            keys_of_tenant.get(o, o) for o in (owner_of(t, k, dispatch_tenants) for t, k in keys)
        }
        assert len(owners) == 1, keys  # one transaction, one tenant's items
        for table, key in keys:
            writers[(table, json.dumps(key_only(table, key), sort_keys=True))] |= owners
    # Create, claim, finish: a transaction, a conditional update, a transaction (x 6). The
    # webhooks' outbox adds no call: the claim's started event rides on its one update, the
    # finish's terminal event is one more Put inside its transaction (and create gains nothing).
    assert operations == ["TransactWriteItems", "UpdateItem", "TransactWriteItems"] * 6
    for n, (_, keys) in enumerate(captured):
        events = [k for t, k in keys if t == WEBHOOKS.name]
        assert len(events) == (1 if n % 3 == 2 else 0)
        assert all(k["sk"]["S"].startswith("EVENT#msg_") for k in events)
        # Budgets: checked by the create, spent by the finish, on the tenant's own items.
        budget_items = sorted(k["sk"]["S"].split("#")[0] for t, k in keys if "BUDGET" in str(k))
        assert budget_items == (["BUDGET", "BUDGET"] if n % 3 != 1 else [])
    assert all(len(tenants) == 1 for tenants in writers.values())

    for table, key in writers:
        item = call("get_item", TableName=table, Key=key_only(table, json.loads(key))).get("Item")
        if item is None:
            continue  # deleted in the finish: the slot marker
        bound = ITEM_BOUND + len(BODY["task"])  # the tenant's own task rides on its dispatch
        assert item_size(item) <= bound, (table, key, item_size(item))


def test_a_tenant_with_120_keys_writes_no_item_over_4_kb_in_its_create_and_finish(
    api, make_tenant, actor, captured, monkeypatch
):
    """Each key issued here once grew the tenant item (~40 B an id), which every create and
    finish writes: 120 keys made it ~5 KB. The ids are items of their own now."""
    monkeypatch.setattr(tenant_services, "MAX_ACTIVE_KEYS", 200)
    tenant, issued = make_tenant()
    for n in range(120):
        tenant_services.key_create(
            tenant_id=tenant.tenant_id,
            name=f"k{n}",
            scopes=(Scope.DISPATCH,),
            expires_at=None,
            actor=actor,
        )
    assert len(tenant_storage.key_ids_listed(tenant_storage.tenant_get(tenant.tenant_id))) == 121
    captured.clear()
    created = api(issued.raw).post("/api/v1/dispatches", BODY).json()["data"]
    dispatch = storage.dispatch_get(created["dispatchId"])
    claimed = storage.dispatch_claim(dispatch, worker_id="w-bounds", now=utcnow())
    assert claimed is not None
    services.dispatch_finish(claimed, status=DispatchStatus.COMPLETED)
    written = {
        (table, json.dumps(key_only(table, key), sort_keys=True))
        for operation, keys in captured
        if operation == "TransactWriteItems"
        for table, key in keys
    }
    assert (TENANTS.name, json.dumps(tenant_key(tenant.tenant_id), sort_keys=True)) in written
    for table, key in written:
        item = call("get_item", TableName=table, Key=json.loads(key)).get("Item")
        if item is not None:
            own_task = len(BODY["task"]) if "dispatch_id" in key else 0
            assert item_size(item) <= ITEM_BOUND + own_task, (table, key, item_size(item))


def test_the_stream_writes_roll_ups_once_per_batch_not_per_dispatch(api, tenant_key, captured):
    _, key = tenant_key()
    roll_up()  # what earlier tests left on the stream is counted first, apart
    for _ in range(5):
        api(key).post("/api/v1/dispatches", BODY)
    captured.clear()
    roll_up()
    roll_ups = [
        keys
        for operation, keys in captured
        if operation == "TransactWriteItems"
        and any("STATS#" in json.dumps(k) or "#CELLS" in json.dumps(k) for _, k in keys)
    ]
    # The five creations land in one transaction (and one more if the batch was split).
    assert 1 <= len(roll_ups) <= 2
    marks = [k for keys in roll_ups for t, k in keys if "dispatch_id" in k]
    assert len(marks) >= 5
