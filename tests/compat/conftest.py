import json

import pytest

from dispatches import reconcile, storage

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
    storage.lease_release(reconcile.LEASE, holder=SWEEPER)


@pytest.fixture(autouse=True)
def agent_commands(settings):
    from tests.dispatches.conftest import ECHO

    settings.OUTPOST_AGENT_COMMANDS = json.dumps({a: ECHO for a in ("claude", "codex")})
