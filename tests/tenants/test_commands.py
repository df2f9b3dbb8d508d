"""provision_tenant: what an operator types in a shell, and the two lines it prints."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from outpost_admin import audit
from tenants import keys, storage
from tenants.domain import Tier
from tests.conftest import unique_email, unreachable_store


def provision(*args):
    out = StringIO()
    call_command("provision_tenant", *args, stdout=out)
    return out.getvalue()


def test_it_prints_exactly_the_tenant_id_and_the_key(client):
    email = unique_email()
    output = provision("Shell Co", email)
    lines = output.splitlines()
    assert len(lines) == 2 and output.endswith("\n")
    tenant_line, key_line = lines
    assert re.fullmatch(r"OUTPOST_TENANT_ID=[0-9a-f-]{36}", tenant_line)
    assert key_line.startswith("OUTPOST_API_KEY=")
    tenant_id, raw = tenant_line.split("=", 1)[1], key_line.split("=", 1)[1]
    assert keys.is_well_formed(raw)
    tenant = storage.tenant_get(tenant_id)
    assert tenant.name == "Shell Co" and tenant.email == email and tenant.tier == Tier.PRO
    me = client.get("/api/v1/me", headers={"X-API-Key": raw})
    assert me.json()["data"]["tenantId"] == tenant_id
    (event,) = audit.audit_list(tenant_id=tenant_id).items
    assert event.action == "tenant.provision" and event.actor == "cli:provision_tenant"


def test_it_takes_a_tier():
    output = provision("Small Co", unique_email(), "free")
    tenant_id = output.splitlines()[0].split("=", 1)[1]
    assert storage.tenant_get(tenant_id).tier == Tier.FREE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "a@example.com"), "name"),
        (("X", "not-an-email"), "email"),
        (("X", "a@example.com", "gold"), "invalid choice"),
    ],
)
def test_it_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        provision(*args)


def test_it_refuses_a_duplicate_email(make_tenant):
    tenant, _ = make_tenant()
    with pytest.raises(CommandError, match="already exists"):
        provision("Again", tenant.email)


def test_it_says_so_when_the_store_is_down():
    with unreachable_store(), pytest.raises(CommandError, match="unavailable"):
        provision("Down Co", unique_email())
