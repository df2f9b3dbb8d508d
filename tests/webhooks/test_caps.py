"""Issue 15 point 6: each endpoint's concurrency and rate caps hold across every worker, so
one tenant's receiver cannot fill the delivery workers, however many there are."""

import itertools
import time
from datetime import timedelta

import pytest

from outpost_admin.dynamo import call, to_item, utcnow
from outpost_admin.dynamo.tables import WEBHOOKS
from webhooks import caps, services

from .conftest import Background, deliver_until

pytestmark = pytest.mark.django_db


def send_tests(tenant, endpoint, actor, n: int) -> None:
    for _ in range(n):
        services.endpoint_send_test(
            tenant_id=tenant.tenant_id, endpoint_id=endpoint.endpoint_id, actor=actor
        )


def hold_every_slot(tenant, endpoint, *, until) -> list[str]:
    """Another worker's deliveries in flight to the endpoint, one per slot."""
    held = []
    for n in range(5):
        sk = caps.slot_take(
            tenant.tenant_id, endpoint.endpoint_id, holder=f"other-{n}", now=utcnow(), until=until
        )
        if sk is None:
            break
        held.append(sk)
    return held


def test_two_workers_together_send_one_at_a_time_to_an_endpoint_capped_at_one(
    make_tenant, receiver, endpoint_for, deliverer_for, actor, settings
):
    settings.OUTPOST_WEBHOOK_ENDPOINT_CONCURRENCY = 1
    receiver.delay = 0.3
    tenant, _ = make_tenant()
    endpoint, _ = endpoint_for(tenant, receiver.url)
    send_tests(tenant, endpoint, actor, 4)
    first = deliverer_for(tenant, threads=4)
    second = deliverer_for(tenant, threads=4)
    with Background(first), Background(second):
        received = receiver.wait_for(4)
    assert len(received) == 4
    starts = sorted(r.at for r in received)
    # Each send starts only once the one before was answered (after the receiver's delay).
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= receiver.delay  # alone, each worker would have sent one beside the other
    assert first.attempts + second.attempts == 4


def test_an_endpoint_whose_slots_another_worker_holds_gets_nothing_until_one_is_freed(
    make_tenant, receiver, endpoint_for, deliverer_for, actor, settings
):
    settings.OUTPOST_WEBHOOK_ENDPOINT_CONCURRENCY = 2
    tenant, _ = make_tenant()
    endpoint, _ = endpoint_for(tenant, receiver.url)
    held = hold_every_slot(tenant, endpoint, until=utcnow() + timedelta(minutes=1))
    assert len(held) == 2  # the cap: a third is refused
    send_tests(tenant, endpoint, actor, 1)
    deliverer = deliverer_for(tenant)
    assert deliverer.run_pass() == 0  # fanned out before, now due: refused its turn
    deliverer.wait_idle()
    assert receiver.requests == []
    caps.slot_give_back(tenant.tenant_id, held[0], holder="somebody-else")  # not theirs
    assert deliverer.run_pass() == 0
    caps.slot_give_back(tenant.tenant_id, held[0], holder="other-0")
    deliver_until(deliverer, lambda: receiver.requests)
    assert len(receiver.requests) == 1


def test_a_dead_worker_s_slot_frees_itself_when_its_lease_ends(
    make_tenant, receiver, endpoint_for, deliverer_for, actor, settings
):
    settings.OUTPOST_WEBHOOK_ENDPOINT_CONCURRENCY = 1
    tenant, _ = make_tenant()
    endpoint, _ = endpoint_for(tenant, receiver.url)
    assert hold_every_slot(tenant, endpoint, until=utcnow() - timedelta(seconds=1))
    send_tests(tenant, endpoint, actor, 1)
    deliver_until(deliverer_for(tenant), lambda: receiver.requests)
    assert len(receiver.requests) == 1
    # Recorded and freed: no slot is left held.
    found = call(
        "get_item",
        TableName=WEBHOOKS.name,
        Key=to_item({"tenant_id": tenant.tenant_id, "sk": f"CAP#{endpoint.endpoint_id}#SLOT#0"}),
    )
    assert "Item" not in found


def test_an_endpoint_s_rate_is_shared_and_a_spent_window_sends_nothing(
    make_tenant, receiver, endpoint_for, deliverer_for, actor, settings
):
    settings.OUTPOST_WEBHOOK_ENDPOINT_RATE = 0.01  # one send per 100-second window
    assert caps.rate_window() == (100, 1)
    tenant, _ = make_tenant()
    endpoint, _ = endpoint_for(tenant, receiver.url)
    while int(time.time()) % 100 > 90:  # not at a window's very end
        time.sleep(1)
    assert caps.rate_take(tenant.tenant_id, endpoint.endpoint_id, now=utcnow())  # another worker
    assert not caps.rate_take(tenant.tenant_id, endpoint.endpoint_id, now=utcnow())
    send_tests(tenant, endpoint, actor, 1)
    first, second = deliverer_for(tenant), deliverer_for(tenant)
    for deliverer in (first, second, first):
        deliverer.run_pass()
        deliverer.wait_idle()
    assert receiver.requests == []
    later = utcnow() + timedelta(seconds=100)  # the next window
    assert caps.rate_take(tenant.tenant_id, endpoint.endpoint_id, now=later)


@pytest.mark.parametrize(("rate", "window"), [(10, (1, 10)), (2.5, (1, 2)), (0.5, (2, 1))])
def test_a_rate_is_kept_in_whole_windows(settings, rate, window):
    settings.OUTPOST_WEBHOOK_ENDPOINT_RATE = rate
    assert caps.rate_window() == window
