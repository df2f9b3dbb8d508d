"""Operator commands: create_tables is safe to run twice."""

from io import StringIO

import pytest
from django.core.management import call_command

from outpost_admin.dynamo import call
from outpost_admin.dynamo.tables import ALL_TABLES, delete_tables


@pytest.fixture
def separate_tables(settings):
    """Table names nobody else uses, dropped afterwards."""
    settings.DYNAMODB_TABLE_PREFIX = "cmdtest"
    settings.DYNAMODB_TENANTS_TABLE = "cmdtest-tenants"
    settings.DYNAMODB_API_KEYS_TABLE = "cmdtest-api-keys"
    settings.DYNAMODB_AUDIT_TABLE = "cmdtest-audit"
    yield [table.name for table in ALL_TABLES]
    delete_tables()


def run(command):
    out = StringIO()
    call_command(command, stdout=out)
    return out.getvalue().splitlines()


def test_create_tables_creates_every_table_then_is_safe_to_run_again(separate_tables):
    first = run("create_tables")
    assert sorted(first[:-1]) == sorted(f"created {name}" for name in separate_tables)
    assert first[-1] == "tables ready"
    assert run("create_tables") == ["tables ready"]
    existing = set(call("list_tables")["TableNames"])
    assert set(separate_tables) <= existing


def test_create_tables_enables_ttl_and_the_indexes(separate_tables):
    run("create_tables")
    audit = call("describe_table", TableName="cmdtest-audit")["Table"]
    assert [i["IndexName"] for i in audit["GlobalSecondaryIndexes"]] == ["audit-time-index"]
    ttl = call("describe_time_to_live", TableName="cmdtest-audit")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"
    keys = call("describe_table", TableName="cmdtest-api-keys")["Table"]
    assert {i["IndexName"] for i in keys["GlobalSecondaryIndexes"]} == {
        "tenant-index",
        "key-hash-index",
    }


# --- make run's admin login -------------------------------------------------------------------


def ensure_admin(monkeypatch, password: str | None = None) -> str:
    """What `make run` says about the admin login, as the launcher does it before serving."""
    from fleet.management.commands.run_local import Command

    if password is None:
        monkeypatch.delenv("OUTPOST_ADMIN_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("OUTPOST_ADMIN_PASSWORD", password)
    out = StringIO()
    Command(stdout=out)._ensure_admin()
    return out.getvalue()


@pytest.mark.django_db
def test_a_second_make_run_says_how_to_reset_the_admin_login(monkeypatch):
    first = ensure_admin(monkeypatch)
    assert "created staff user admin with password:" in first
    second = ensure_admin(monkeypatch)
    assert "password:" not in second  # never shown again
    assert "staff user admin exists" in second
    assert "manage.py changepassword admin" in second
    assert "OUTPOST_ADMIN_PASSWORD" in second
    assert "updated the password of admin" in ensure_admin(monkeypatch, "pw-admin-new-1")
