import json
import re
import sys

import pytest

from tenants.domain import Tier

ECHO = [sys.executable, "-c", "import os; print('ran', os.environ['DISPATCH_ID'])"]


@pytest.fixture(autouse=True)
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps(
        {a: ECHO for a in ("claude", "codex", "gemini", "aider")}
    )


@pytest.fixture
def api(client):
    """Call the API with a key: api(key).post(path, body) / .get(path)."""

    class Caller:
        def __init__(self, raw_key):
            self.headers = {"HTTP_X_API_KEY": raw_key}

        def post(self, path, body=None, **headers):
            return client.post(
                path,
                json.dumps(body or {}),
                content_type="application/json",
                **self.headers,
                **headers,
            )

        def get(self, path, **headers):
            return client.get(path, **self.headers, **headers)

        def delete(self, path, **headers):
            return client.delete(path, **self.headers, **headers)

    return Caller


@pytest.fixture
def tenant_key(make_tenant):
    def make(tier=Tier.PRO):
        tenant, issued = make_tenant(tier=tier)
        return tenant, issued.raw

    return make


BODY = {
    "agent": "claude",
    "task": "Fix the failing test in utils.py",
    "repo": "acme/widgets",
    "branch": "main",
}


def row_ids(html: str) -> list[str]:
    """The dispatch ids of a history page's rows, in order."""
    return re.findall(r'<tr id="dispatch-([0-9A-Za-z_-]+)"', html)


@pytest.fixture
def member(make_tenant, login_member):
    """A tenant and a signed-in user of it."""
    tenant, _ = make_tenant()
    return tenant, login_member(tenant.tenant_id)
