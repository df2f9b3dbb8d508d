"""Issue 13 point 4: the stream records go to one Lambda-shaped batch handler; locally a
follower with a lease and checkpoint per shard feeds it, and no store error stops it."""

import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from fleet import recovery as reconcile
from outpost_admin.dynamo import call, from_item, leases, streams, to_item, utcnow
from outpost_admin.dynamo.tables import DISPATCHES, STREAM, TENANTS
from tenants import storage as tenant_storage
from tests.conftest import roll_up, unique_email
from usage import backfill, stream_handler
from usage import storage as usage_storage

from . import control_plane as cp
from .conftest import SWEEPER

STREAM_CALLS = ("DescribeStream", "GetShardIterator", "GetRecords")
ERRORS = (
    "TrimmedDataAccessException",
    "ExpiredIteratorException",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "ResourceNotFoundException",
    "connection",
)


def arn_of(table: str) -> str:
    arn = streams.stream_arn(table)
    assert arn is not None, f"{table} has no stream"
    return arn


def stream_records(table: str) -> list[tuple[str, dict]]:
    """Every record the table's stream holds now, with its shard, read with GetRecords."""
    arn = arn_of(table)
    found = []
    for shard in streams.shards(arn):
        iterator = streams._call(
            "get_shard_iterator",
            StreamArn=arn,
            ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        ).get("ShardIterator")
        while iterator:
            response = streams._call("get_records", ShardIterator=iterator, Limit=1000)
            found += [(shard["ShardId"], r) for r in response["Records"]]
            iterator = response.get("NextShardIterator") if response["Records"] else None
    return found


def records_of(table: str, key: str, value: str) -> list[tuple[str, dict]]:
    return [
        (shard, r)
        for shard, r in stream_records(table)
        if r["dynamodb"]["Keys"].get(key) == {"S": value}
    ]


def trims(table: str) -> int:
    return sum(lease.trims for lease in leases.shard_leases(table))


def cp_tenant() -> dict:
    return cp.create_tenant(f"Zq Stream {uuid.uuid4().hex[:6]}", unique_email("stream"))


def is_listed(tenant: dict) -> bool:
    return tenant_storage.tenant_id_by_email(tenant["email"]) is not None


@pytest.fixture
def fail_once():
    """Make the streams client's next call of `operation` fail with `code` (once)."""
    events = streams._streams().meta.events
    hooks = []

    def install(operation: str, code: str) -> None:
        calls = {"n": 0}

        def raise_it(**_):
            calls["n"] += 1
            if calls["n"] > 1:
                return
            if code == "connection":
                raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)

        event = f"before-call.dynamodbstreams.{operation}"
        events.register(event, raise_it)
        hooks.append((event, raise_it))

    yield install
    for event, hook in hooks:
        events.unregister(event, hook)


# --- no store error stops the follower -----------------------------------------------------


@pytest.fixture
def positions_kept():
    """Put the shards' positions back afterwards: a trim restarts a shard at the horizon,
    and every later test would wait for the session's whole stream to be read again."""
    kept = {(lease.table, lease.shard_id): lease.checkpoint for lease in leases.shard_leases()}
    yield
    for (table, shard_id), checkpoint in kept.items():
        call(
            "update_item",
            TableName=TENANTS.name,
            Key=to_item({"tenant_id": leases.PARTITION, "sk": f"{table}#{shard_id}"}),
            UpdateExpression="SET checkpoint = :cp REMOVE expiresAt, holder",
            ExpressionAttributeValues={":cp": {"S": checkpoint}},
        )
    roll_up()  # what the rewound shards held since


@pytest.mark.slow
@pytest.mark.parametrize("operation", STREAM_CALLS)
@pytest.mark.parametrize("code", ERRORS)
@pytest.mark.usefixtures("positions_kept")
def test_a_stream_error_never_stops_recovery_and_the_next_pass_goes_on(
    operation, code, fail_once, sweep, make_tenant
):
    tenant, _ = make_tenant()
    theirs = cp_tenant()
    dispatch = cp.create_dispatch(tenant.tenant_id, "codex")
    trimmed_before = trims(TENANTS.name) + trims(DISPATCHES.name)
    fail_once(operation, code)
    reconcile.safe_sweep(holder=SWEEPER)  # nothing escapes
    if code == "TrimmedDataAccessException" and operation != "DescribeStream":
        # Restarted at the trim horizon with the loss counted: the next pass reads on from
        # there (the whole session's stream here, a bounded part of it per pass).
        assert trims(TENANTS.name) + trims(DISPATCHES.name) == trimmed_before + 1
        followed = backfill.follow_streams(holder=SWEEPER, old_lease=reconcile.LEASE)
        assert followed.handled > 0 and not followed.problems
        return
    sweep(
        until=lambda: (
            is_listed(theirs)
            and usage_storage.usage_get(tenant.tenant_id, utcnow().date()).dispatches == 1
        )
    )
    assert trims(TENANTS.name) + trims(DISPATCHES.name) == trimmed_before
    assert dispatch["dispatch_id"]


def test_the_adapter_translates_every_stream_error(fail_once):
    from outpost_admin.dynamo import errors

    expected = {
        "TrimmedDataAccessException": errors.Trimmed,
        "ExpiredIteratorException": errors.ExpiredIterator,
        "LimitExceededException": errors.Unavailable,
        "ProvisionedThroughputExceededException": errors.Unavailable,
        "ThrottlingException": errors.Unavailable,
        "ResourceNotFoundException": errors.Gone,
        "connection": errors.Unavailable,
    }
    arn = arn_of(TENANTS.name)
    for code, error in expected.items():
        fail_once("DescribeStream", code)
        with pytest.raises(error):
            streams.shards(arn)


def test_a_failing_recovery_pass_never_ends_the_recovery_loop(monkeypatch):
    def broken(**_):
        raise RuntimeError("a bug")

    monkeypatch.setattr(backfill, "follow_streams", broken)
    assert reconcile.safe_sweep(holder=SWEEPER) is None


# --- one batch handler, Lambda-shaped --------------------------------------------------------


def lambda_event(pairs: list[tuple[str, dict]], table: str) -> dict:
    arn = arn_of(table)
    return {"Records": [streams.lambda_record(record, arn) for _, record in pairs]}


def test_the_handler_reports_the_record_it_failed_on_and_handles_the_others(make_tenant):
    tenant, _ = make_tenant()
    theirs = cp_tenant()
    dispatch = cp.create_dispatch(tenant.tenant_id, "claude")
    tenant_event = lambda_event(
        records_of(TENANTS.name, "tenant_id", theirs["tenantId"]), TENANTS.name
    )
    dispatch_event = lambda_event(
        records_of(DISPATCHES.name, "dispatch_id", dispatch["dispatch_id"]), DISPATCHES.name
    )
    poison = _poisoned(dispatch_event["Records"][0])
    event = {"Records": [*tenant_event["Records"], poison, *dispatch_event["Records"]]}

    assert stream_handler.handler(event, None) == {
        "batchItemFailures": [{"itemIdentifier": poison["dynamodb"]["SequenceNumber"]}]
    }
    assert is_listed(theirs)
    assert usage_storage.usage_get(tenant.tenant_id, utcnow().date()).dispatches == 1
    stream_handler.handle_batch(event)  # replayed: nothing counted twice
    assert usage_storage.usage_get(tenant.tenant_id, utcnow().date()).dispatches == 1


def _poisoned(record: dict) -> dict:
    """A copy of a real record whose handler raises (a status no dispatch can have)."""
    image = {**record["dynamodb"]["NewImage"], "status": {"S": "BOGUS"}}
    sequence = "9" + record["dynamodb"]["SequenceNumber"]
    return {
        **record,
        "dynamodb": {**record["dynamodb"], "NewImage": image, "SequenceNumber": sequence},
    }


def test_the_filter_drops_records_that_need_no_work(make_tenant):
    ours, _ = make_tenant()
    theirs = cp_tenant()
    keep = stream_handler.keep(TENANTS.name)
    assert all(keep(r) for _, r in records_of(TENANTS.name, "tenant_id", theirs["tenantId"]))
    assert not any(keep(r) for _, r in records_of(TENANTS.name, "tenant_id", ours.tenant_id))
    patterns = stream_handler.filter_criteria(stream_handler.DISPATCH_PATTERNS)["Filters"]
    assert len(patterns) == 4 and all(isinstance(f["Pattern"], str) for f in patterns)
    keep_dispatch = stream_handler.keep(DISPATCHES.name)

    def image(**attributes: str) -> dict:
        new = {"dispatch_id": {"S": "d-1"}, **{k: {"S": v} for k, v in attributes.items()}}
        return {"eventName": "MODIFY", "dynamodb": {"NewImage": new}}

    counted = {"counted_by": "stream", "counted_created": "t", "counted_outcome": "COMPLETED"}
    assert not keep_dispatch(image(status="COMPLETED", started_day="d", **counted))
    assert keep_dispatch(image(status="PENDING", started_day="d", counted_by="stream"))
    assert keep_dispatch(image(status="RUNNING", started_day="d", counted_by="stream"))
    assert keep_dispatch(image(status="FAILED", started_day="d", counted_by="stream"))
    assert not keep_dispatch(image(status="FAILED", started_day="d", counted_outcome="FAILED"))
    assert keep_dispatch(image(status="RUNNING"))  # the control plane's, not yet given its day


# --- a lease per shard -------------------------------------------------------------------------


@pytest.fixture
def own_table():
    """A table with a stream of its own, so what these tests read is theirs alone."""
    name = f"test-streams-{uuid.uuid4().hex[:8]}"
    call(
        "create_table",
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=STREAM,
    )
    yield name
    call("delete_table", TableName=name)
    for lease in leases.shard_leases(name):
        leases.forget(name, lease.shard_id, now=utcnow() + timedelta(hours=1))


def put(table: str, count: int) -> None:
    for n in range(count):
        call("put_item", TableName=table, Item=to_item({"id": f"item-{n}"}))


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, event: dict) -> dict:
        self.seen += [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        return {"batchItemFailures": []}


def follow(table: str, holder: str, handle, per_shard: int = 1000, seconds: int = 60):
    return streams.follow(
        table, handle, keep=lambda _: True, holder=holder, seconds=seconds, per_shard=per_shard
    )


def test_two_followers_never_read_the_same_shard_at_once(own_table):
    put(own_table, 3)
    (shard_id,) = {shard for shard, _ in stream_records(own_table)}
    assert leases.acquire(own_table, shard_id, holder="a", now=utcnow(), seconds=60)
    b = Recorder()
    follow(own_table, "b", b)
    assert b.seen == []


def test_a_follower_that_dies_loses_its_shard_at_expiry_and_another_goes_on_from_its_checkpoint(
    own_table,
):
    put(own_table, 5)
    records = stream_records(own_table)
    shard_id = records[0][0]
    lease = leases.acquire(own_table, shard_id, holder="a", now=utcnow(), seconds=1)
    halfway = records[1][1]["dynamodb"]["SequenceNumber"]
    assert lease is not None
    leases.save(replace(lease, checkpoint=halfway), now=utcnow(), seconds=1)  # then a dies
    b = Recorder()
    follow(own_table, "b", b)
    assert b.seen == []  # still a's
    time.sleep(1.2)
    follow(own_table, "b", b)
    assert b.seen == [r["dynamodb"]["SequenceNumber"] for _, r in records[2:]]


def test_a_failed_record_is_retried_next_pass_and_lag_is_kept_on_the_lease(own_table):
    put(own_table, 4)
    records = [r for _, r in stream_records(own_table)]
    third = records[2]["dynamodb"]["SequenceNumber"]
    seen: list[str] = []

    def fails_on_third(event: dict) -> dict:
        seen.extend(r["dynamodb"]["SequenceNumber"] for r in event["Records"])
        return {"batchItemFailures": [{"itemIdentifier": third}]}

    follow(own_table, "a", fails_on_third)
    (lease,) = leases.shard_leases(own_table)
    assert lease.checkpoint == records[1]["dynamodb"]["SequenceNumber"]
    assert lease.lag_seconds(utcnow()) >= 0 and lease.pending_since is not None
    after = Recorder()
    follow(own_table, "a", after)
    assert after.seen == [r["dynamodb"]["SequenceNumber"] for r in records[2:]]
    (lease,) = leases.shard_leases(own_table)
    assert lease.pending_since is None and lease.lag_seconds(utcnow()) == 0


def test_each_shard_gets_its_own_budget_per_pass(own_table):
    put(own_table, 5)
    first = Recorder()
    follow(own_table, "a", first, per_shard=2)
    assert len(first.seen) <= 2 + streams.BATCH  # bounded, one batch at most past the budget


# --- the upgrade from one lease holding every checkpoint -------------------------------------


def test_checkpoints_on_todays_recovery_lease_are_taken_over_once(sweep, monkeypatch):
    before = cp_tenant()
    ((shard_id, record),) = records_of(TENANTS.name, "tenant_id", before["tenantId"])
    positions = todays_layout()
    positions[TENANTS.name][shard_id] = record["dynamodb"]["SequenceNumber"]
    old_state = {"streams": positions, "recount": ""}
    call("put_item", TableName=TENANTS.name, Item=to_item({**RECOVERY, "state": old_state}))
    monkeypatch.setattr(backfill, "_taken_over", False)
    after = cp_tenant()
    sweep(until=lambda: is_listed(after))
    assert not is_listed(before)  # its record lay before the old checkpoint: not read again
    item = call("get_item", TableName=TENANTS.name, Key=to_item(RECOVERY))["Item"]
    assert "streams" not in from_item(item)["state"]
    (lease,) = [x for x in leases.shard_leases(TENANTS.name) if x.shard_id == shard_id]
    assert lease.checkpoint > record["dynamodb"]["SequenceNumber"]


RECOVERY = {"tenant_id": f"LEASE#{reconcile.LEASE}", "sk": "LEASE"}


def todays_layout() -> dict[str, dict[str, str]]:
    """The shard leases put back as the map the recovery lease held before them (and gone)."""
    old: dict[str, dict[str, str]] = {TENANTS.name: {}, DISPATCHES.name: {}}
    for lease in leases.shard_leases():
        old.setdefault(lease.table, {})[lease.shard_id] = lease.checkpoint
        key = {"tenant_id": leases.PARTITION, "sk": f"{lease.table}#{lease.shard_id}"}
        call("delete_item", TableName=TENANTS.name, Key=to_item(key))
    return old


# --- lag on /fleet/ and /health/fleet ---------------------------------------------------------


def test_each_shards_lag_shows_on_the_fleet_page_and_beside_the_health_keys(
    sweep, staff_client, client
):
    sweep()
    page = staff_client.get("/fleet/").content.decode()
    assert 'id="fleet-streams"' in page
    for lease in leases.shard_leases(TENANTS.name):
        if not lease.done:
            assert f'data-shard="{lease.shard_id}"' in page
    data = client.get("/health/fleet").json()["data"]
    assert {"status", "pool", "agents", "uptime", "timestamp"} <= set(data)  # still theirs
    assert data["streams"]["lagSeconds"] >= 0
    assert {s["table"] for s in data["streams"]["shards"]} >= {TENANTS.name, DISPATCHES.name}


def test_the_switch_turns_the_local_follower_off_where_lambda_runs_the_handler(settings):
    settings.OUTPOST_STREAM_FOLLOWER = False
    theirs = cp_tenant()
    followed = backfill.follow_streams(holder=SWEEPER, old_lease=reconcile.LEASE)
    assert (followed.handled, is_listed(theirs)) == (0, False)


def test_a_caught_up_follower_shows_no_lag_though_its_lease_writes_land_on_the_stream(make_tenant):
    """Every lease save adds a record to the tenants' stream: a pass that finds only those is
    caught up, instead of chasing its own tail until its read limit with a lag shown."""
    make_tenant()
    roll_up()
    shown = leases.shard_leases()
    assert shown and all(lease.lag_seconds(utcnow()) == 0 for lease in shown)


def test_a_worker_following_the_streams_in_its_thread_does_not_read_them_again_to_recover(
    monkeypatch,
):
    from fleet.worker import Worker

    followed: list[str] = []
    monkeypatch.setattr(backfill, "follow_streams", lambda **kw: followed.append(kw["holder"]))
    both = Worker(worker_id="w-follows", recover_every=0.01, follow_every=60)
    alone = Worker(worker_id="w-recovers", recover_every=0.01)
    for worker in (both, alone):
        thread = threading.Thread(target=worker._recover)
        thread.start()
        time.sleep(0.2)
        worker._done.set()
        thread.join(timeout=10)
    assert "w-follows" not in followed  # its _follow thread reads them
    assert "w-recovers" in followed  # without one, its sweep does
