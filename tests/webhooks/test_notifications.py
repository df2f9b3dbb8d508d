"""Failure e-mails (point 7): per tenant, on each failure or after N in a row, at most one
message per cooldown; Django's e-mail backend (locmem here), exact messages."""

import pytest
from django.core import mail

from dispatches.domain import DispatchStatus
from webhooks import services

from .test_delivery import run_to

pytestmark = pytest.mark.django_db(transaction=True)  # recipients are read in the loop's thread


@pytest.fixture
def tenant_with_user(make_tenant, login_member, django_user_model):
    tenant, _ = make_tenant()
    login_member(tenant.tenant_id)
    user = django_user_model.objects.get(tenant_membership__tenant_id=tenant.tenant_id)
    return tenant, user.username


def settle(deliverer, tenant):
    """Run passes until the tenant's outbox is empty."""
    for _ in range(20):
        if not deliverer.run_pass():
            return


def test_a_failed_dispatch_sends_one_exact_message_and_the_cooldown_holds_the_next(
    tenant_with_user, deliverer_for, actor
):
    tenant, address = tenant_with_user
    services.notify_update(
        tenant_id=tenant.tenant_id, on_failure=True, streak=0, cooldown_minutes=60, actor=actor
    )
    first = run_to(tenant, DispatchStatus.FAILED, exit_code=2, status_reason="Exited with code 2.")
    deliverer = deliverer_for(tenant)
    settle(deliverer, tenant)
    run_to(tenant, DispatchStatus.TIMEOUT, status_reason="Killed after 60 s.")
    settle(deliverer, tenant)
    assert len(mail.outbox) == 1  # the second failure falls inside the hour
    message = mail.outbox[0]
    assert message.subject == f"[Outpost] Dispatch {first.dispatch_id} failed"
    assert message.to == [address]
    assert message.body == (
        f"Dispatch {first.dispatch_id} failed: Exited with code 2.\n\n"
        f"/dispatches/{first.dispatch_id}/\n\n"
        "You get at most one such message every 60 min. "
        "Change this under Webhooks, Failure e-mails.\n"
    )


def test_n_failures_in_a_row_send_one_message_and_a_success_resets_the_streak(
    tenant_with_user, deliverer_for, actor
):
    tenant, address = tenant_with_user
    services.notify_update(
        tenant_id=tenant.tenant_id, on_failure=False, streak=2, cooldown_minutes=60, actor=actor
    )
    deliverer = deliverer_for(tenant)
    run_to(tenant, DispatchStatus.FAILED, status_reason="Exited with code 1.")
    settle(deliverer, tenant)
    run_to(tenant)  # a success: the streak starts again
    settle(deliverer, tenant)
    run_to(tenant, DispatchStatus.FAILED, status_reason="Exited with code 1.")
    settle(deliverer, tenant)
    assert mail.outbox == []
    last = run_to(tenant, DispatchStatus.TIMEOUT, status_reason="Killed after 60 s.")
    settle(deliverer, tenant)
    assert [(m.subject, m.to) for m in mail.outbox] == [
        ("[Outpost] 2 dispatches failed in a row", [address])
    ]
    assert mail.outbox[0].body == (
        f"The last 2 dispatches failed or timed out. The latest, {last.dispatch_id}, timed out: "
        f"Killed after 60 s.\n\n/dispatches/{last.dispatch_id}/\n\n"
        "You get at most one such message every 60 min. "
        "Change this under Webhooks, Failure e-mails.\n"
    )


def test_nothing_is_sent_unless_the_tenant_asked(tenant_with_user, deliverer_for):
    tenant, _ = tenant_with_user
    run_to(tenant, DispatchStatus.FAILED)
    settle(deliverer_for(tenant), tenant)
    assert mail.outbox == []
