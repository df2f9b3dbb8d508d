import json
import sys

import pytest
from django.test import Client

from dispatches import lifecycle as services
from dispatches import storage
from dispatches.domain import DispatchStatus
from outpost_admin.audit import Actor
from outpost_admin.dynamo import utcnow
from tenants import services as tenant_services
from tenants.domain import Scope
from tests.conftest import roll_up

ECHO = [sys.executable, "-c", "print('ok')"]
TASK = "Fix the failing test in utils.py"


@pytest.fixture(autouse=True)
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({a: ECHO for a in ("claude", "codex", "gemini")})


def second_key(tenant, name="second", scopes=(Scope.DISPATCH, Scope.LIST)):
    return tenant_services.key_create(
        tenant_id=tenant.tenant_id,
        name=name,
        scopes=tuple(scopes),
        expires_at=None,
        actor=Actor(name="tester"),
    )


def create(raw_key, agent="claude", expect=201):
    response = Client().post(
        "/api/v1/dispatches",
        json.dumps({"agent": agent, "task": TASK, "timeoutSeconds": 60}),
        content_type="application/json",
        HTTP_X_API_KEY=raw_key,
    )
    assert response.status_code == expect, response.content
    roll_up()  # what the workers' stream follower does within seconds
    return response.json()["data"] if expect == 201 else response.json()


def finish(dispatch_id, status, *, claim=True):
    """Claimed by a (pretend) worker first, so it has a run time, then finished."""
    dispatch = storage.dispatch_get(dispatch_id)
    claimed = storage.dispatch_claim(dispatch, worker_id="w-test", now=utcnow()) if claim else None
    assert services.dispatch_finish(claimed or dispatch, status=DispatchStatus(status))
    roll_up()
