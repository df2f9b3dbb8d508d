import json
import threading

import pytest

from dispatches import storage
from fleet import recovery as reconcile
from fleet import storage as fleet_storage

SWEEPER = "tests-sweeper"


@pytest.fixture
def sweep():
    """Run recovery as a worker would, until `until()` holds (the streams may hold a whole
    session's records before this test's); returns the last report."""

    def run(until=lambda: True, tries: int = 30):
        for _ in range(tries):
            report = reconcile.sweep(holder=SWEEPER)
            assert report is not None, "another holder kept the recovery lease"
            if until():
                return report
        raise AssertionError("recovery did not get there")

    yield run
    fleet_storage.lease_release(reconcile.LEASE, holder=SWEEPER)


@pytest.fixture(autouse=True)
def agent_commands(settings):
    from tests.dispatches.conftest import ECHO

    settings.OUTPOST_AGENT_COMMANDS = json.dumps({a: ECHO for a in ("claude", "codex")})


def racing_releases(tenant_id: str, dispatch_id: str, racers: int = 3) -> list[bool]:
    """`racers` threads release the same slot at the same moment; what each one answered."""
    barrier, results = threading.Barrier(racers), []

    def release():
        barrier.wait()
        results.append(storage.slot_release_orphan(tenant_id, dispatch_id, None))

    threads = [threading.Thread(target=release) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)
