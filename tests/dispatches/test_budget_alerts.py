"""Budget alerts: the soft threshold, 90 % and 100 % each e-mail the tenant's users once a
month, counted from the tenants' stream; changing the budget never mails a level twice; a
new month mails again."""

from datetime import UTC, datetime

import pytest
from django.core import mail

from outpost_admin.dynamo import call, to_item, transact, utcnow
from outpost_admin.dynamo.tables import TENANTS
from tenants import budgets, services
from tests.conftest import roll_up
from usage import budget_alerts

pytestmark = pytest.mark.django_db
DOLLAR = budgets.MICROS


@pytest.fixture
def tenant_with_user(make_tenant, login_member):
    tenant, _ = make_tenant()
    login_member(tenant.tenant_id)
    return tenant


def spend(tenant_id, micros, when=None):
    transact(budgets.record_spend(tenant_id, api_key_id="", micros=micros, now=when or utcnow()))


def seen(tenant_id, sk="BUDGET"):
    """The stream's record of the budget item, as it is now."""
    key = to_item({"tenant_id": tenant_id, "sk": sk})
    return call("get_item", TableName=TENANTS.name, Key=key, ConsistentRead=True)["Item"]


def mails_to(tenant_id):
    to = budget_alerts.recipients(tenant_id)
    return [m.subject for m in mail.outbox if m.to == to]


@pytest.mark.django_db(transaction=True)  # the follower's thread reads the users committed
def test_crossing_each_level_mails_the_tenants_users_once_from_the_stream(tenant_with_user, actor):
    tenant_id = tenant_with_user.tenant_id
    services.budget_set(tenant_id=tenant_id, hard=10 * DOLLAR, soft=5 * DOLLAR, actor=actor)
    spend(tenant_id, 6 * DOLLAR)
    roll_up()
    assert mails_to(tenant_id) == [
        f"[Outpost] Your tenant has crossed its soft threshold of $5.00 ({budgets.month_of(utcnow())})"
    ]
    roll_up()  # the same records again, and the claim's own: nothing more
    spend(tenant_id, 3 * DOLLAR + DOLLAR // 2)
    roll_up()
    spend(tenant_id, DOLLAR)
    roll_up()
    subjects = mails_to(tenant_id)
    assert len(subjects) == 3
    assert "90 %" in subjects[1] and "hard budget of $10.00" in subjects[2]
    assert "refused until" in mail.outbox[-1].body
    assert budgets.budget_get(tenant_id, now=utcnow()).alerted == {"soft", "p90", "p100"}


def test_a_level_is_mailed_once_however_often_the_record_is_seen(tenant_with_user, actor):
    tenant_id = tenant_with_user.tenant_id
    services.budget_set(tenant_id=tenant_id, hard=10 * DOLLAR, soft=None, actor=actor)
    spend(tenant_id, 9 * DOLLAR)
    record = seen(tenant_id)
    assert budget_alerts.budget_record(record) == ["p90"]
    assert budget_alerts.budget_record(record) == []
    assert len(mails_to(tenant_id)) == 1


def test_lowering_then_raising_the_budget_never_mails_a_level_twice(tenant_with_user, actor):
    tenant_id = tenant_with_user.tenant_id
    services.budget_set(tenant_id=tenant_id, hard=100 * DOLLAR, soft=None, actor=actor)
    spend(tenant_id, 30 * DOLLAR)
    assert budget_alerts.budget_record(seen(tenant_id)) == []
    services.budget_set(tenant_id=tenant_id, hard=20 * DOLLAR, soft=None, actor=actor)
    # Lowered below the spend: over the budget now, by the change, and said so once.
    assert budget_alerts.budget_record(seen(tenant_id)) == ["p90", "p100"]
    assert len(mails_to(tenant_id)) == 1
    services.budget_set(tenant_id=tenant_id, hard=100 * DOLLAR, soft=None, actor=actor)
    assert budget_alerts.budget_record(seen(tenant_id)) == []
    services.budget_set(tenant_id=tenant_id, hard=20 * DOLLAR, soft=None, actor=actor)
    assert budget_alerts.budget_record(seen(tenant_id)) == []
    assert len(mails_to(tenant_id)) == 1


def test_a_new_month_mails_again_and_last_months_spend_mails_nothing(
    tenant_with_user, actor, monkeypatch
):
    tenant_id = tenant_with_user.tenant_id
    services.budget_set(tenant_id=tenant_id, hard=10 * DOLLAR, soft=None, actor=actor)
    december = datetime(2026, 12, 20, tzinfo=UTC)
    january = datetime(2027, 1, 2, tzinfo=UTC)
    monkeypatch.setattr(budget_alerts, "utcnow", lambda: december)
    spend(tenant_id, 10 * DOLLAR, when=december)
    assert budget_alerts.budget_record(seen(tenant_id)) == ["p90", "p100"]
    monkeypatch.setattr(budget_alerts, "utcnow", lambda: january)
    assert budget_alerts.budget_record(seen(tenant_id)) == []  # December's spend, read late
    spend(tenant_id, 9 * DOLLAR, when=january)
    assert budget_alerts.budget_record(seen(tenant_id)) == ["p90"]
    assert len(mails_to(tenant_id)) == 2


def test_a_message_that_cannot_be_sent_gives_its_claim_back(tenant_with_user, actor, monkeypatch):
    tenant_id = tenant_with_user.tenant_id
    services.budget_set(tenant_id=tenant_id, hard=10 * DOLLAR, soft=None, actor=actor)
    spend(tenant_id, 9 * DOLLAR)

    def down(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(budget_alerts, "send_mail", down)
    with pytest.raises(ConnectionRefusedError):
        budget_alerts.budget_record(seen(tenant_id))
    assert budgets.budget_get(tenant_id, now=utcnow()).alerted == frozenset()
    monkeypatch.undo()
    assert budget_alerts.budget_record(seen(tenant_id)) == ["p90"]
    assert len(mails_to(tenant_id)) == 1


def test_a_keys_budget_mails_naming_the_key(tenant_with_user, actor):
    tenant_id = tenant_with_user.tenant_id
    key = services.key_create(
        tenant_id=tenant_id, name="ci", scopes=(), expires_at=None, actor=actor
    ).key
    services.budget_set(
        tenant_id=tenant_id, api_key_id=key.api_key_id, hard=DOLLAR, soft=None, actor=actor
    )
    transact(
        budgets.record_spend(tenant_id, api_key_id=key.api_key_id, micros=DOLLAR, now=utcnow())
    )
    record = seen(tenant_id, f"BUDGET#KEY#{key.api_key_id}")
    assert budget_alerts.budget_record(record) == ["p90", "p100"]
    assert key.api_key_id in mails_to(tenant_id)[0]
