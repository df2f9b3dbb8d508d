"""The dispatch pages: a tenant user sees their own tenant, staff see every tenant, outsiders 404."""

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from dispatches import history_index, storage
from dispatches import lifecycle as services
from dispatches.domain import DispatchStatus
from outpost_admin.dynamo import counting_calls, utcnow
from tenants import selectors as tenant_selectors
from tenants.models import TenantMembership
from tests.conftest import roll_up, unique_email

from .conftest import BODY

pytestmark = pytest.mark.django_db


# --- personas and helpers ---------------------------------------------------------------


@pytest.fixture
def owner(tenant_key, login_member):
    """Tenant A with its key and a signed-in user of A."""
    tenant, key = tenant_key()
    return tenant, key, login_member(tenant.tenant_id)


@pytest.fixture
def outsider(tenant_key, login_member):
    """A user of another tenant B, and B's key."""
    tenant, key = tenant_key()
    return tenant, key, login_member(tenant.tenant_id)


def create(key, **fields):
    response = Client().post(
        "/api/v1/dispatches",
        json.dumps({**BODY, **fields}),
        content_type="application/json",
        HTTP_X_API_KEY=key,
    )
    assert response.status_code == 201, response.content
    return response.json()["data"]["dispatchId"]


def run(dispatch_id, *, output="hello from the agent\n", status=DispatchStatus.COMPLETED, **result):
    """What a worker does: claim, write output, finish."""
    dispatch = storage.dispatch_claim(
        storage.dispatch_get(dispatch_id), worker_id="test-worker", now=utcnow()
    )
    assert dispatch is not None
    storage.log_append(dispatch, seq=1, text=output, now=utcnow())
    assert services.dispatch_finish(dispatch, status=status, **result)


def htmx(client, url):
    return client.get(url, HTTP_HX_REQUEST="true")


def without_csrf(response):
    """The page with its (per-response masked) CSRF token blanked out."""
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", response.content.decode())
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def row_ids(html):
    return re.findall(r'<tr id="dispatch-([0-9A-Z]+)"', html)


# --- tenant home --------------------------------------------------------------------------


def test_a_tenant_user_lands_on_their_home_with_usage_against_limits(owner):
    tenant, key, client = owner
    first, second = create(key), create(key)
    run(first)
    roll_up()  # what the workers' stream follower does within seconds
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/home/"
    html = response.content.decode()
    assert tenant.name in html
    assert re.search(r"<strong>2</strong> of 500", html)  # today's dispatches, pro tier
    assert re.search(r"<strong>1</strong> of 10 concurrent slots", html)
    assert 'hx-get="/usage/today/"' in html  # today's outcomes, loaded from the usage app
    assert "success 1" in client.get("/usage/today/").content.decode()
    assert second in html and first in html
    assert 'href="/dispatches/"' in html  # the tenant user's nav
    assert "/tenants/" not in html


def test_staff_land_on_the_tenants_list(staff_client):
    assert staff_client.get("/")["Location"] == "/tenants/"
    assert staff_client.get("/home/")["Location"] == "/tenants/"


def test_anonymous_users_are_sent_to_log_in():
    for url in ("/", "/home/", "/dispatches/", "/dispatches/01ABC/", "/dispatches/01ABC/cancel/"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_user_without_a_tenant_gets_404(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("nobody", password="pw-nobody-1"))
    assert client.get("/home/").status_code == 404
    assert client.get("/dispatches/").status_code == 404


def test_a_tenant_user_gets_404_on_staff_pages(owner):
    tenant, _, client = owner
    assert client.get("/tenants/").status_code == 404
    assert client.get(f"/tenants/{tenant.tenant_id}/").status_code == 404
    assert (
        client.get(f"/tenants/{tenant.tenant_id}/dispatches/", HTTP_HX_REQUEST="true").status_code
        == 404
    )


def test_home_over_htmx_is_a_fragment(owner):
    _, _, client = owner
    response = htmx(client, "/home/")
    assert response.status_code == 200
    assert "<html" not in response.content.decode() and "usage-today" in response.content.decode()
    assert "HX-Request" in response["Vary"]


# --- history ------------------------------------------------------------------------------


def test_history_shows_own_dispatches_newest_first(owner, outsider):
    _, key, client = owner
    older, newer = create(key), create(key)
    theirs = create(outsider[1])
    html = client.get("/dispatches/").content.decode()
    ids = row_ids(html)
    assert ids.index(newer) < ids.index(older)
    assert theirs not in html


def test_a_tenant_user_cannot_widen_the_history_to_another_tenant(owner, outsider):
    _, key, client = owner
    mine, theirs = create(key), create(outsider[1])
    html = client.get(f"/dispatches/?tenant={outsider[0].tenant_id}").content.decode()
    assert mine in html and theirs not in html


def test_history_filters_by_status_agent_repo_and_time(owner):
    _, key, client = owner
    done = create(key, repo="acme/done")
    waiting = create(key, agent="codex", repo="acme/waiting")
    run(done)
    by_status = client.get("/dispatches/?status=success").content.decode()
    assert done in by_status and waiting not in by_status
    assert ">success<" in by_status
    by_agent = client.get("/dispatches/?agent=codex").content.decode()
    assert waiting in by_agent and done not in by_agent
    by_repo = client.get("/dispatches/?repo=acme/done").content.decode()
    assert done in by_repo and waiting not in by_repo
    later = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert row_ids(client.get(f"/dispatches/?since={later}").content.decode()) == []
    earlier = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    in_range = client.get(f"/dispatches/?since={earlier}&until={later}").content.decode()
    assert done in in_range and waiting in in_range


@pytest.mark.parametrize(
    "query",
    [
        "status=finished",
        "agent=clippy",
        "repo=not%20a%20repo",
        "since=yesterday",
        "since=2026-01-02T00:00&until=2026-01-01T00:00",
        "status=<script>",
    ],
)
def test_bad_filters_are_form_errors_not_500s(owner, query):
    _, _, client = owner
    response = client.get(f"/dispatches/?{query}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="error"' in html and "<script>" not in html


def test_a_tampered_cursor_is_a_400(owner):
    _, key, client = owner
    create(key)
    assert client.get("/dispatches/?cursor=not-a-cursor").status_code == 400
    assert htmx(client, "/dispatches/?cursor=eyJhIjoxfQ:1abc:def").status_code == 400


def test_load_more_over_htmx_returns_only_the_next_rows(owner, monkeypatch):
    monkeypatch.setattr("dispatches.views.PAGE_SIZE", 2)
    _, key, client = owner
    oldest, middle, newest = create(key), create(key), create(key)
    html = client.get("/dispatches/").content.decode()
    assert row_ids(html) == [newest, middle]
    more = re.search(r'hx-get="(\?cursor=[^"]+)"', html)
    assert more, "a Load more link"
    fragment = htmx(client, "/dispatches/" + more.group(1).replace("&amp;", "&")).content.decode()
    assert row_ids(fragment) == [oldest]
    assert "<html" not in fragment and "<table" not in fragment and "Load more" not in fragment


def test_a_cursor_only_fits_the_filters_it_was_made_for(owner, monkeypatch):
    monkeypatch.setattr("dispatches.views.PAGE_SIZE", 1)
    _, key, client = owner
    create(key), create(key)
    html = client.get("/dispatches/").content.decode()
    found = re.search(r'\?cursor=([^"&]+)"', html)
    assert found is not None
    cursor = found.group(1)
    assert client.get(f"/dispatches/?agent=codex&cursor={cursor}").status_code == 400


def test_history_over_htmx_is_a_fragment(owner):
    _, key, client = owner
    dispatch_id = create(key)
    response = htmx(client, "/dispatches/?status=pending")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and dispatch_id in html
    assert "HX-Request" in response["Vary"]


def live_url(html):
    match = re.search(r'<tbody id="dispatch-rows" data-live="([^"]+)"', html)
    assert match, "the table does not refresh itself"
    return match.group(1).replace("&amp;", "&")


def test_one_request_refreshes_the_whole_list_new_rows_and_changed_ones(owner):
    _, key, client = owner
    running = [create(key) for _ in range(3)]
    url = live_url(client.get("/dispatches/").content.decode())
    assert "hx-trigger" not in client.get("/dispatches/").content.decode()  # no per-row polls
    new = create(key)
    run(running[0])
    with counting_calls() as calls:
        html = htmx(client, f"{url}&ids={','.join(running)}").content.decode()
    assert calls.operations == ["Query"]  # every row it named is among the newest: no more reads
    assert new in row_ids(html) and set(running) <= set(row_ids(html))
    assert re.search(rf'<tr id="dispatch-{running[0]}" data-status="success"[ >]', html)
    assert "<html" not in html and "<thead" not in html


def test_the_refresh_reads_rows_it_no_longer_lists_in_one_batch(owner, monkeypatch):
    monkeypatch.setattr("dispatches.views.PAGE_SIZE", 2)
    _, key, client = owner
    oldest, *_ = [create(key) for _ in range(4)]
    url = live_url(client.get("/dispatches/").content.decode())
    with counting_calls() as calls:
        html = htmx(client, f"{url}&ids={oldest}").content.decode()
    assert calls.operations == ["Query", "BatchGetItem"]
    assert len(row_ids(html)) == 3 and oldest in row_ids(html)


def test_the_refresh_never_shows_another_tenants_rows(owner, outsider):
    _, _, client = owner
    theirs = create(outsider[1])
    html = htmx(client, f"/dispatches/live/?limit=5&ids={theirs}").content.decode()
    assert theirs not in html
    assert htmx(client, "/dispatches/live/?status=nope").status_code == 400
    assert Client().get("/dispatches/live/").status_code == 302


def test_staff_refresh_by_tenant_id_with_names(staff_client, owner, outsider):
    tenant = owner[0]
    mine, theirs = create(owner[1]), create(outsider[1])
    html = staff_client.get("/dispatches/", {"tenant": tenant.name}).content.decode()
    url = live_url(html)
    assert f"tenant={tenant.tenant_id}" in url
    with counting_calls() as calls:
        rows = htmx(staff_client, url).content.decode()
    assert calls.operations == ["Query", "BatchGetItem"]  # the rows, then the tenant names
    assert mine in rows and theirs not in rows and f">{tenant.name}</a>" in rows
    assert htmx(staff_client, "/dispatches/live/?tenant=not-an-id").status_code == 400


# --- staff --------------------------------------------------------------------------------


def test_staff_see_every_tenants_dispatches_of_the_day(staff_client, owner, outsider):
    mine, theirs = create(owner[1]), create(outsider[1])
    html = staff_client.get("/dispatches/").content.decode()
    assert mine in html and theirs in html
    assert f"?tenant={owner[0].tenant_id}" in html  # the tenant column links to its history
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    assert mine not in staff_client.get(f"/dispatches/?day={yesterday}").content.decode()


def test_staff_filter_the_history_by_tenant(staff_client, owner, outsider):
    mine, theirs = create(owner[1]), create(outsider[1])
    html = staff_client.get(f"/dispatches/?tenant={owner[0].tenant_id}").content.decode()
    assert mine in html and theirs not in html


def test_staff_see_every_tenant_over_a_time_range(staff_client, owner, outsider):
    repo = f"acme/range{uuid.uuid4().hex[:6]}"
    mine, theirs = create(owner[1], repo=repo), create(outsider[1], repo=repo)
    since = (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    html = staff_client.get("/dispatches/", {"since": since, "repo": repo}).content.decode()
    assert set(row_ids(html)) == {mine, theirs}


def test_a_range_without_a_tenant_reads_one_query_per_history_shard(staff_client):
    now = utcnow()
    since = (now - timedelta(days=3)).strftime("%Y-%m-%dT00:00")
    until = (now - timedelta(days=1)).strftime("%Y-%m-%dT23:59")
    with counting_calls() as calls:
        response = staff_client.get("/dispatches/", {"since": since, "until": until})
    assert response.status_code == 200 and row_ids(response.content.decode()) == []
    # One Query per shard of the history index whatever the days; no names to read.
    assert calls.operations == ["Query"] * history_index.SHARDS


def test_staff_filter_by_tenant_name_and_see_names_not_ids(staff_client, make_tenant):
    tenant, issued = make_tenant(name=f"Named {uuid.uuid4().hex[:6]}")
    dispatch_id = create(issued.raw)
    html = staff_client.get("/dispatches/", {"tenant": tenant.name.upper()}).content.decode()
    assert dispatch_id in html and f"Dispatches of {tenant.name}" in html
    assert f'title="{tenant.tenant_id}">{tenant.name}</a>' in html  # the id on hover


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"tenant": "no such tenant"}, "tenant", "No tenant has this name"),
        ({"since": "2026-01-01T00:00", "until": "2026-03-01T00:00"}, "since", "31 days at most"),
        ({"until": "2026-01-01T00:00"}, "since", "needs its start"),
        ({"since": "2026-01-01T00:00", "day": "2026-01-01"}, "day", "not both"),
    ],
)
def test_staff_history_filters_say_what_is_wrong_next_to_the_field(
    staff_client, query, field, message
):
    html = staff_client.get("/dispatches/", query).content.decode()
    error = re.search(rf'<p class="error" id="id_{field}_error">([^<]*)</p>', html)
    assert error and message in error.group(1)
    assert re.search(rf'aria-describedby="[^"]*\bid_{field}_error\b', html)


def test_the_tenant_picker_suggests_names_from_the_name_index(staff_client, make_tenant):
    marker = f"picker{uuid.uuid4().hex[:6]}"
    a, _ = make_tenant(name=f"{marker} Alpha")
    make_tenant(name=f"{marker} Twin"), make_tenant(name=f"{marker} Twin")
    with counting_calls() as calls:
        html = htmx(staff_client, f"/tenants/picker/?tenant={marker}").content.decode()
    assert calls.operations == ["Query"]
    assert f'<option value="{a.name}">' in html
    assert html.count(f">{marker} Twin ·") == 2 and f'value="{marker} Twin"' not in html
    assert htmx(staff_client, "/tenants/picker/?tenant=").content.decode().strip() == ""


def test_staff_open_and_cancel_any_tenants_dispatch(staff_client, owner):
    dispatch_id = create(owner[1])
    assert staff_client.get(f"/dispatches/{dispatch_id}/").status_code == 200
    response = staff_client.post(f"/dispatches/{dispatch_id}/cancel/")
    assert response.status_code == 302
    assert storage.dispatch_get(dispatch_id).status == DispatchStatus.CANCELLED


def test_a_tenants_staff_page_loads_its_dispatches(staff_client, owner):
    tenant, key, _ = owner
    dispatch_id = create(key)
    page = staff_client.get(f"/tenants/{tenant.tenant_id}/").content.decode()
    assert f'hx-get="/tenants/{tenant.tenant_id}/dispatches/"' in page
    assert f"/dispatches/?tenant={tenant.tenant_id}" in page
    fragment = htmx(staff_client, f"/tenants/{tenant.tenant_id}/dispatches/").content.decode()
    assert dispatch_id in fragment and "<html" not in fragment
    polled = htmx(staff_client, live_url(fragment)).content.decode()
    assert fragment.count("<thead>") == 1 and dispatch_id in polled
    assert fragment.count("<th ") == 10 and len(re.findall("<td[ >]", polled)) == 10  # same columns
    plain = staff_client.get(f"/tenants/{tenant.tenant_id}/dispatches/")
    assert plain["Location"] == f"/dispatches/?tenant={tenant.tenant_id}"


# --- the dispatch page ----------------------------------------------------------------------


def test_the_dispatch_page_shows_the_request_and_polls_while_pending(owner):
    _, key, client = owner
    dispatch_id = create(key, branch="feature/x")
    response = client.get(f"/dispatches/{dispatch_id}/")
    html = response.content.decode()
    assert response.status_code == 200
    for text in (BODY["task"], "acme/widgets", "feature/x", "claude", "claude-opus-4-5-20251101"):
        assert text in html
    assert 'id="dispatch-status">pending<' in html
    assert f'hx-get="/dispatches/{dispatch_id}/live/"' in html and 'hx-trigger="every 2s"' in html
    assert f'href="/dispatches/{dispatch_id}/cancel/"' in html


def test_a_finished_dispatch_shows_its_output_timeline_and_exit_code(owner):
    _, key, client = owner
    dispatch_id = create(key)
    run(dispatch_id, output="line one\nline two\n", exit_code=0)
    html = client.get(f"/dispatches/{dispatch_id}/").content.decode()
    assert 'id="dispatch-status">success<' in html
    # Written without line times (as before they were kept): each line, with no time shown.
    assert '<span class="ln">line one\n</span><span class="ln">line two\n</span>' in html
    assert '<code id="exit-code">0</code>' in html
    assert "queued " in html and "ran " in html
    assert "hx-trigger" not in html and "/cancel/" not in html


def test_a_failed_dispatch_shows_reason_and_error(owner):
    _, key, client = owner
    dispatch_id = create(key)
    run(
        dispatch_id,
        status=DispatchStatus.FAILED,
        exit_code=3,
        error_message="tests still fail",
        status_reason="Exited with code 3.",
    )
    html = client.get(f"/dispatches/{dispatch_id}/").content.decode()
    assert ">failed<" in html and "Exited with code 3." in html and "tests still fail" in html
    assert '<code id="exit-code">3</code>' in html


def test_the_live_fragment_is_the_status_section_and_its_announcement(owner):
    _, key, client = owner
    dispatch_id = create(key)
    html = htmx(client, f"/dispatches/{dispatch_id}/live/").content.decode()
    assert html.lstrip().startswith('<section id="dispatch-live"') and "<html" not in html
    assert "hx-trigger" in html
    assert '<p id="status-announcer" hx-swap-oob="innerHTML">Status: pending</p>' in html
    run(dispatch_id, output="all done\n")
    html = htmx(client, f"/dispatches/{dispatch_id}/live/").content.decode()
    assert "hx-trigger" not in html and "Status: success" in html
    assert "all done" not in html  # the log follows on its own: never re-sent whole


def test_the_log_sends_only_what_is_new_by_sequence(owner):
    _, key, client = owner
    dispatch_id = create(key)
    dispatch = storage.dispatch_claim(
        storage.dispatch_get(dispatch_id), worker_id="test-worker", now=utcnow()
    )
    assert dispatch is not None
    for seq, text in enumerate(["one\n", "two\n", "three\n"]):
        storage.log_append(dispatch, seq=seq, text=text, now=utcnow())
    with counting_calls() as calls:
        body = client.get(f"/dispatches/{dispatch_id}/log/?after=0").json()
    lines = [[None, "two\n"], [None, "three\n"]]  # no times: written without them
    assert body == {"seq": 2, "text": "two\nthree\n", "lines": lines, "done": False}
    assert calls.operations == ["GetItem", "Query"]
    assert client.get(f"/dispatches/{dispatch_id}/log/?after=2").json()["text"] == ""
    assert client.get(f"/dispatches/{dispatch_id}/log/?after=x").status_code == 400
    services.dispatch_finish(dispatch, status=DispatchStatus.COMPLETED)
    assert client.get(f"/dispatches/{dispatch_id}/log/?after=2").json()["done"] is True
    download = client.get(f"/dispatches/{dispatch_id}/log.txt")
    assert download.content == b"one\ntwo\nthree\n"
    assert "attachment" in download["Content-Disposition"]


def test_the_red_error_line_is_the_last_line_not_the_whole_output(owner):
    _, key, client = owner
    dispatch_id = create(key)
    output = "".join(f"line {i}\n" for i in range(40)) + "Error: tests failed\n"
    run(dispatch_id, output=output, status=DispatchStatus.FAILED, error_message=output)
    html = client.get(f"/dispatches/{dispatch_id}/").content.decode()
    assert '<p class="error" id="dispatch-error">Error: tests failed</p>' in html
    assert html.count("line 17") == 1  # once, in the log


def test_nobody_else_reads_or_downloads_a_log(owner, outsider):
    theirs = create(outsider[1])
    _, _, client = owner
    assert client.get(f"/dispatches/{theirs}/log/?after=-1").status_code == 404
    assert client.get(f"/dispatches/{theirs}/log.txt").status_code == 404
    assert Client().get(f"/dispatches/{theirs}/log/").status_code == 302


def test_another_tenants_dispatch_is_404_like_a_missing_one(owner, outsider):
    _, _, client = owner
    theirs = create(outsider[1])
    missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    for suffix in ("", "live/", "row/", "cancel/"):
        other = client.get(f"/dispatches/{theirs}/{suffix}")
        absent = client.get(f"/dispatches/{missing}/{suffix}")
        assert other.status_code == absent.status_code == 404
        assert without_csrf(other) == without_csrf(absent)
    assert client.post(f"/dispatches/{theirs}/cancel/").status_code == 404
    assert storage.dispatch_get(theirs).status == DispatchStatus.PENDING


def test_the_dispatch_page_over_htmx_is_a_fragment(owner):
    _, key, client = owner
    dispatch_id = create(key)
    response = htmx(client, f"/dispatches/{dispatch_id}/")
    html = response.content.decode()
    assert "<html" not in html and BODY["task"] in html and "HX-Request" in response["Vary"]


# --- cancelling ------------------------------------------------------------------------------


def test_cancel_asks_first_then_cancels_and_audits(owner):
    tenant, key, client = owner
    dispatch_id = create(key)
    confirm = client.get(f"/dispatches/{dispatch_id}/cancel/")
    assert confirm.status_code == 200
    assert "csrfmiddlewaretoken" in confirm.content.decode()
    assert storage.dispatch_get(dispatch_id).status == DispatchStatus.PENDING
    response = client.post(f"/dispatches/{dispatch_id}/cancel/")
    assert response.status_code == 302 and response["Location"] == f"/dispatches/{dispatch_id}/"
    dispatch = storage.dispatch_get(dispatch_id)
    assert dispatch.status == DispatchStatus.CANCELLED
    assert tenant_selectors.tenant_get(tenant_id=tenant.tenant_id).concurrent_jobs == 0
    events = tenant_selectors.audit_list(tenant_id=tenant.tenant_id, action="dispatch.cancel").items
    assert [e.resource for e in events] == [f"dispatch/{dispatch_id}"]
    assert events[0].actor.startswith("user-")
    html = client.get(f"/dispatches/{dispatch_id}/").content.decode()
    assert ">cancelled<" in html and "cancelled by user-" in html
    assert f"Dispatch {dispatch_id} cancelled." in html  # the success message, shown once
    assert "cancelled.</" not in client.get(f"/dispatches/{dispatch_id}/").content.decode()


def test_cancelling_a_finished_dispatch_is_a_409_with_a_clear_message(owner):
    _, key, client = owner
    dispatch_id = create(key)
    run(dispatch_id)
    for response in (
        client.get(f"/dispatches/{dispatch_id}/cancel/"),
        client.post(f"/dispatches/{dispatch_id}/cancel/"),
    ):
        assert response.status_code == 409
        assert "already success" in response.content.decode()
    assert storage.dispatch_get(dispatch_id).status == DispatchStatus.COMPLETED


def test_cancel_needs_the_csrf_token(owner, django_user_model):
    tenant, key, _ = owner
    dispatch_id = create(key)
    user = django_user_model.objects.create_user(unique_email("csrf"), password="pw-user-2")
    TenantMembership.objects.create(user=user, tenant_id=tenant.tenant_id)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(f"/dispatches/{dispatch_id}/cancel/").status_code == 403
    assert storage.dispatch_get(dispatch_id).status == DispatchStatus.PENDING


def test_anonymous_cancel_is_sent_to_log_in(owner):
    dispatch_id = create(owner[1])
    response = Client().post(f"/dispatches/{dispatch_id}/cancel/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert storage.dispatch_get(dispatch_id).status == DispatchStatus.PENDING


def test_staffs_load_more_of_today_keeps_working_after_midnight(staff_client, owner, monkeypatch):
    monkeypatch.setattr("dispatches.views.PAGE_SIZE", 1)
    create(owner[1]), create(owner[1])
    today = utcnow().date().isoformat()
    more = re.search(
        r'hx-get="(\?cursor=[^"]+)"', staff_client.get("/dispatches/").content.decode()
    )
    assert more is not None and f"day={today}" in more.group(1)
    tomorrow = utcnow() + timedelta(days=1)
    monkeypatch.setattr("dispatches.views.utcnow", lambda: tomorrow)
    next_page = htmx(staff_client, "/dispatches/" + more.group(1).replace("&amp;", "&"))
    assert next_page.status_code == 200 and len(row_ids(next_page.content.decode())) == 1


def test_a_suspended_tenants_users_see_why_and_since_when(owner, staff_client):
    tenant, _, client = owner
    with counting_calls() as before:
        client.get("/home/")
    url = reverse("tenants:suspend", args=[tenant.tenant_id])
    staff_client.post(url, {"reason": "Payment <b>overdue</b>"})
    with counting_calls() as calls:
        page = client.get("/home/").content.decode()
    # The banner reads the tenant the page already has.
    assert calls.by_operation() == before.by_operation()
    assert "This tenant is suspended since " + utcnow().strftime("%Y-%m-%d") in page
    assert "Payment &lt;b&gt;overdue&lt;/b&gt;" in page
    staff_client.post(reverse("tenants:reactivate", args=[tenant.tenant_id]))
    assert 'id="suspension"' not in client.get("/home/").content.decode()


def test_an_empty_history_says_how_the_first_dispatch_arrives(owner, staff_client):
    tenant, _, client = owner
    for page in (
        client.get("/home/").content.decode(),
        client.get("/dispatches/").content.decode(),
        staff_client.get(f"/dispatches/?tenant={tenant.tenant_id}").content.decode(),
    ):
        row = re.search(r'<tr class="empty"><td colspan="12">(.*?)</td></tr>', page, re.S)
        assert row, page
        assert "No dispatches yet." in row.group(1) and "<code>POST /dispatch</code>" in row.group(
            1
        )
        assert 'href="/api/docs/"' in row.group(1)


def test_the_tenant_home_puts_recent_dispatches_before_billing_and_charts(owner):
    _, _, client = owner
    page = client.get("/home/").content.decode()
    order = ['id="usage-today"', 'id="dispatch-rows"', 'id="tenant-billing"', 'id="tenant-usage"']
    positions = [page.index(marker) for marker in order]
    assert positions == sorted(positions)
