"""Issue 14 point 4: bulk cancel and bulk re-run of every dispatch a filter matches, after a
confirmation stating how many with a sample, in the background with a progress page,
audited as one action with its count, within the tenant's quotas."""

import re
import time

import pytest
from django.urls import reverse

from dispatches import bulk, lifecycle, storage
from dispatches.domain import DispatchStatus
from outpost_admin import audit
from outpost_admin.dynamo import call, counting_calls, to_item, transact, utcnow
from outpost_admin.dynamo.tables import TENANTS
from tenants.domain import Tier
from tests.dispatches.workers import create

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(make_tenant, login_member):
    def make(tier=Tier.PRO):
        tenant, _ = make_tenant(tier=tier)
        return tenant, login_member(tenant.tenant_id)

    return make


def finished_job(tenant_id: str, job_id: str, timeout: float = 30) -> bulk.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = bulk.job_get(tenant_id, job_id)
        if job.finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def confirm(client, action: str, query: str, expected):
    url = f"{reverse('dispatches:bulk', args=[action])}?{query}"
    return client.post(url, {"expected": str(expected)})


def job_of(response) -> tuple[str, str]:
    found = re.search(r"/dispatches/bulk/([^/]+)/([^/]+)/$", response["Location"])
    assert found, response["Location"]
    return found[1], found[2]


def test_cancel_all_matching_states_n_with_a_sample_then_cancels_them_in_the_background(member):
    tenant, client = member()
    grok = [create(tenant, agent="grok").dispatch_id for _ in range(3)]
    claude = create(tenant, agent="claude").dispatch_id
    page = client.get(f"{reverse('dispatches:bulk', args=['cancel'])}?agent=grok")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Cancel all 3 dispatches matching this filter?" in text
    assert all(i in text for i in grok) and claude not in text  # the sample
    assert all(storage.dispatch_get(i).status == DispatchStatus.PENDING for i in grok)  # asked only

    response = confirm(client, "cancel", "agent=grok", 3)
    assert response.status_code == 302
    job = finished_job(*job_of(response))
    assert sorted(d for d, _ in job.done) == sorted(grok) and job.failed == []
    assert all(storage.dispatch_get(i).status == DispatchStatus.CANCELLED for i in grok)
    assert storage.dispatch_get(claude).status == DispatchStatus.PENDING
    [record] = audit.audit_list(tenant_id=tenant.tenant_id, action="dispatch.bulk_cancel").items
    assert record.metadata == {"count": 3, "filters": "agent=grok"}
    progress = client.get(response["Location"]).content.decode()
    assert re.search(r'id="bulk-done">3<', progress) and re.search(
        r'id="bulk-remaining">0<', progress
    )
    assert "Finished." in progress and "hx-trigger" not in progress  # it stops asking


def test_a_tag_filter_narrows_the_bulk_action_as_it_narrows_the_list(member):
    tenant, client = member()
    tagged = create(tenant, agent="grok", tags={"team": "core"}).dispatch_id
    other = create(tenant, agent="grok", tags={"team": "web"}).dispatch_id
    page = client.get(f"{reverse('dispatches:bulk', args=['cancel'])}?tag=team%3Dcore")
    assert "Cancel the one dispatch matching this filter?" in page.content.decode()
    job = finished_job(*job_of(confirm(client, "cancel", "tag=team%3Dcore", 1)))
    assert [d for d, _ in job.done] == [tagged]
    assert storage.dispatch_get(other).status == DispatchStatus.PENDING


def test_a_confirmation_for_another_number_is_asked_again(member):
    tenant, client = member()
    ids = [create(tenant, agent="grok").dispatch_id for _ in range(2)]
    response = confirm(client, "cancel", "agent=grok", 1)
    assert response.status_code == 409
    assert "The matches changed since the page was shown: 2 now." in response.content.decode()
    assert all(storage.dispatch_get(i).status == DispatchStatus.PENDING for i in ids)
    assert not audit.audit_list(tenant_id=tenant.tenant_id, action="dispatch.bulk_cancel").items


def test_run_again_all_matching_stays_within_the_quota_and_reports_each_refusal(member, actor):
    tenant, client = member(tier=Tier.STARTER)  # 3 at a time
    ended = []
    for _ in range(5):
        dispatch = create(tenant, agent="aider")
        lifecycle.dispatch_cancel(dispatch=dispatch, actor=actor)
        ended.append(dispatch.dispatch_id)
    page = client.get(f"{reverse('dispatches:bulk', args=['rerun'])}?agent=aider").content.decode()
    assert "Run again all 5 dispatches matching this filter?" in page
    response = confirm(client, "rerun", "agent=aider", 5)
    job = finished_job(*job_of(response))
    assert len(job.done) == 3 and len(job.failed) == 2
    assert {reason for _, reason in job.failed} == {
        "Refused: the tenant's concurrency limit of 3 is reached."
    }
    for original, new_id in job.done:
        assert storage.dispatch_get(new_id).rerun_of == original
    progress = client.get(response["Location"]).content.decode()
    assert "Refused: the tenant&#x27;s concurrency limit of 3 is reached." in progress


def test_a_job_whose_runner_died_is_taken_up_again_and_runs_nothing_twice(member, actor):
    tenant, client = member()
    ended = []
    for _ in range(3):
        dispatch = create(tenant, agent="gemini")
        lifecycle.dispatch_cancel(dispatch=dispatch, actor=actor)
        ended.append(dispatch.dispatch_id)
    job_id = bulk.job_start(
        tenant_id=tenant.tenant_id, action="rerun", dispatch_ids=ended, query="", actor=actor
    )
    bulk.run(tenant.tenant_id, job_id)  # the first runner did the chunk...
    first = finished_job(tenant.tenant_id, job_id)
    # ... and died before its outcome was recorded, its lease run out.
    call(
        "delete_item",
        TableName=TENANTS.name,
        Key=to_item({"tenant_id": tenant.tenant_id, "sk": f"BULK#{job_id}#000"}),
    )
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=to_item({"tenant_id": tenant.tenant_id, "sk": f"BULK#{job_id}"}),
        UpdateExpression="SET runner_until = :past",
        ExpressionAttributeValues=to_item({":past": "2020-01-01T00:00:00.000Z"}),
    )
    url = reverse("dispatches:bulk-job", args=[tenant.tenant_id, job_id])
    assert client.get(url).status_code == 200  # the page finds the lease out: a new runner
    again = finished_job(tenant.tenant_id, job_id)
    assert sorted(again.done) == sorted(first.done)  # the same new dispatches: none twice


def test_another_tenant_s_job_is_a_404_and_staff_must_pick_a_tenant(member, staff_client, actor):
    tenant, _ = member()
    _, outsider = member()
    job_id = bulk.job_start(
        tenant_id=tenant.tenant_id, action="cancel", dispatch_ids=[], query="", actor=actor
    )
    url = reverse("dispatches:bulk-job", args=[tenant.tenant_id, job_id])
    assert outsider.get(url).status_code == 404
    assert staff_client.get(url).status_code == 200
    bad = reverse("dispatches:bulk-job", args=[tenant.tenant_id, "not-a-job"])
    assert staff_client.get(bad).status_code == 404
    refused = staff_client.get(reverse("dispatches:bulk", args=["cancel"]))
    assert refused.status_code == 400
    assert "Pick a tenant in the filters first" in refused.content.decode()
    assert staff_client.get(reverse("dispatches:bulk", args=["delete"])).status_code == 404


def test_the_progress_page_of_a_finished_job_reads_one_query(member):
    tenant, client = member()
    create(tenant, agent="grok")
    response = confirm(client, "cancel", "agent=grok", 1)
    finished_job(*job_of(response))
    with counting_calls() as calls:
        client.get(response["Location"])
    assert calls.by_operation() == {"Query": 1}


def test_the_confirmation_needs_the_csrf_token(make_tenant, django_user_model):
    from django.test import Client

    from tenants.models import TenantMembership

    tenant, _ = make_tenant()
    create(tenant, agent="grok")
    user = django_user_model.objects.create_user("bulk-csrf", password="pw")
    TenantMembership.objects.create(user=user, tenant_id=tenant.tenant_id)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert confirm(strict, "cancel", "agent=grok", 1).status_code == 403


def test_a_re_run_refused_by_the_budget_is_reported_in_dollars_and_the_job_ends(member, actor):
    from tenants import budgets
    from tenants import services as tenant_services

    tenant, client = member()
    dispatch = create(tenant, agent="codex")
    lifecycle.dispatch_cancel(dispatch=dispatch, actor=actor)
    tenant_services.budget_set(
        tenant_id=tenant.tenant_id, hard=budgets.MICROS, soft=None, actor=actor
    )
    spent = budgets.record_spend(
        tenant.tenant_id, api_key_id="", micros=budgets.MICROS, now=utcnow()
    )
    transact(spent)
    job = finished_job(*job_of(confirm(client, "rerun", "agent=codex", 1)))
    assert job.done == [] and job.failed == [
        (
            dispatch.dispatch_id,
            "Refused: this month's spend of $1.00 has reached the tenant's budget of $1.00.",
        )
    ]
