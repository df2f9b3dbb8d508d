"""Issue 14 point 3: saved views of the history (mine, my team's, staff's global ones),
shared as links, and the period presets."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from dispatches.forms import DispatchFilterForm, StaffDispatchFilterForm
from dispatches.models import SavedView
from outpost_admin.dynamo import counting_calls

pytestmark = pytest.mark.django_db

LIST = reverse("dispatches:list")
CREATE = reverse("dispatches:view-create")


@pytest.fixture
def team(make_tenant, login_member):
    """Two users of one tenant, and one of another."""
    tenant, _ = make_tenant()
    other, _ = make_tenant()
    return (
        login_member(tenant.tenant_id),
        login_member(tenant.tenant_id),
        login_member(other.tenant_id),
    )


def save(client: Client, name: str, query: str, *, shared: bool = False, **headers: str):
    data = {"name": name, "query": query, **({"shared": "on"} if shared else {})}
    return client.post(CREATE, data, headers={k.replace("_", "-"): v for k, v in headers.items()})


def sidebar(client: Client, query: str = "") -> str:
    page = client.get(f"{LIST}?{query}").content.decode()
    return page[page.index('id="saved-views"') :]


def test_a_view_keeps_the_filters_and_opens_them_from_its_own_link(team):
    me, _, _ = team
    response = save(me, "Failed grok", "status=failed&agent=grok&cursor=abc&junk=1")
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?status=failed&agent=grok"  # no cursor, no junk
    view = SavedView.objects.get(name="Failed grok")
    assert view.query == "status=failed&agent=grok" and not view.shared
    opened = me.get(reverse("dispatches:view", args=[view.pk]))
    assert opened.status_code == 302 and opened["Location"] == f"{LIST}?status=failed&agent=grok"
    assert "Failed grok" in sidebar(me)


def test_a_shared_view_is_the_team_s_and_no_other_tenant_s(team):
    me, teammate, outsider = team
    save(me, "Shared one", "agent=codex", shared=True)
    save(me, "Private one", "agent=aider")
    shared = SavedView.objects.get(name="Shared one")
    private = SavedView.objects.get(name="Private one")
    seen = sidebar(teammate)
    assert "Shared one" in seen and "Private one" not in seen
    assert teammate.get(reverse("dispatches:view", args=[shared.pk])).status_code == 302
    assert teammate.get(reverse("dispatches:view", args=[private.pk])).status_code == 404
    for view in (shared, private):
        assert outsider.get(reverse("dispatches:view", args=[view.pk])).status_code == 404
    assert "Shared one" not in sidebar(outsider)


def test_staff_views_shared_are_global_to_staff_and_never_shown_to_tenants(
    staff_client, django_user_model, team
):
    save(staff_client, "Every failure", "status=failed", shared=True)
    view = SavedView.objects.get(name="Every failure")
    assert view.tenant_id == ""
    colleague = Client()
    colleague.force_login(django_user_model.objects.create_user("staff2", is_staff=True))
    assert "Every failure" in sidebar(colleague)
    assert "Global views" in sidebar(colleague)
    me, _, _ = team
    assert "Every failure" not in sidebar(me)
    assert me.get(reverse("dispatches:view", args=[view.pk])).status_code == 404


def test_bad_views_are_form_errors_naming_the_field(team):
    me, _, _ = team
    save(me, "Taken", "agent=grok")
    for name, query, error in (
        ("", "agent=grok", "This field is required."),
        ("Taken", "agent=codex", "You already have a view with this name."),
        ("x" * 81, "agent=grok", "at most 80 characters"),
        ("Bad", "repo=not a repo", "Fix the filters first"),
    ):
        response = save(me, name, query, HX_Request="true")
        assert response.status_code == 200
        assert error in response.content.decode()
        assert response.content.decode().lstrip().startswith('<aside id="saved-views"')
    assert SavedView.objects.filter(owner__saved_views__name="Taken").count() == 1
    assert SavedView.objects.count() == 1


def test_deleting_asks_first_and_only_the_owner_may(team):
    me, teammate, _ = team
    save(me, "Mine", "agent=grok", shared=True)
    view = SavedView.objects.get(name="Mine")
    url = reverse("dispatches:view-delete", args=[view.pk])
    confirm = me.get(url).content.decode()
    assert "Delete the view “Mine”?" in confirm and "cannot be undone" in confirm
    assert SavedView.objects.filter(pk=view.pk).exists()  # asking deletes nothing
    assert teammate.get(url).status_code == 404
    assert teammate.post(url).status_code == 404
    assert me.post(url).status_code == 302
    assert not SavedView.objects.filter(pk=view.pk).exists()


def test_saving_needs_the_csrf_token(make_tenant, django_user_model):
    from tenants.models import TenantMembership

    tenant, _ = make_tenant()
    user = django_user_model.objects.create_user("csrf-user", password="pw")
    TenantMembership.objects.create(user=user, tenant_id=tenant.tenant_id)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert save(strict, "No token", "agent=grok").status_code == 403
    assert not SavedView.objects.exists()


def test_the_history_page_reads_its_views_without_a_dynamodb_call_more(team):
    me, _, _ = team
    with counting_calls() as before:
        me.get(f"{LIST}?agent=grok")
    save(me, "One", "agent=grok", shared=True)
    save(me, "Two", "agent=codex")
    with counting_calls() as after:
        me.get(f"{LIST}?agent=grok")
    assert after.by_operation() == before.by_operation()


def test_a_period_is_a_rolling_start_and_excludes_a_range():
    now = datetime.now(UTC)
    for period, span in (("1h", 1 / 24), ("24h", 1), ("7d", 7), ("30d", 30)):
        form = DispatchFilterForm({"period": period})
        assert form.is_valid()
        since = form.cleaned_data["since"]
        assert abs((now - since) - timedelta(days=span)) < timedelta(seconds=5)
    both = DispatchFilterForm({"period": "1h", "since": "2026-01-01T00:00"})
    assert not both.is_valid() and "period" in both.errors
    assert not DispatchFilterForm({"period": "2y"}).is_valid()
    # Staff without a tenant: a period is a range of every tenant's, 30 days at most.
    assert StaffDispatchFilterForm({"period": "30d"}).is_valid()


def test_the_presets_keep_the_other_filters_and_mark_the_current_one(team):
    me, _, _ = team
    seen = sidebar(me, "agent=grok&period=24h")
    for period in ("1h", "24h", "7d", "30d"):
        link = escape(f"{LIST}?{urlencode({'agent': 'grok', 'period': period})}")
        assert f'href="{link}"' in seen
    assert f'{escape(urlencode({"agent": "grok", "period": "24h"}))}" aria-current="true"' in seen
