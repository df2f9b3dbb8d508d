"""Issue 14, "Make the common work fast", point 5: the run page puts the log first, each line
with its time; it names the key and the worker or ECS task; "Run again" is an editable form."""

import json
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from django.test import Client

from dispatches import lifecycle, storage
from dispatches.domain import DispatchStatus, LogChunk, LogLine, log_lines
from dispatches.forms import tags_text
from fleet.executors import LogWriter, OutputBuffer
from outpost_admin import audit
from outpost_admin.dynamo import counting_calls, utcnow
from tenants.domain import Scope, Tier
from tenants.models import TenantMembership
from tenants.services import key_create
from tests.conftest import unique_email

from .conftest import BODY

pytestmark = pytest.mark.django_db

T0 = int(datetime(2026, 12, 8, 4, 50, 1, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def owner(make_tenant, login_member, actor):
    """A pro tenant, a key of it named "ci-bot-…" and a signed-in user of it."""
    tenant, _ = make_tenant()
    issued = key_create(
        tenant_id=tenant.tenant_id,
        name=f"ci-bot-{tenant.tenant_id[:6]}",
        scopes=(Scope.ADMIN,),
        expires_at=None,
        actor=actor,
    )
    return tenant, issued, login_member(tenant.tenant_id)


def create(raw_key, **fields):
    response = Client().post(
        "/api/v1/dispatches",
        json.dumps(BODY | fields),
        content_type="application/json",
        HTTP_X_API_KEY=raw_key,
    )
    assert response.status_code == 201, response.content
    return response.json()["data"]["dispatchId"]


def claimed(dispatch_id, worker_id="worker-a"):
    dispatch = storage.dispatch_claim(
        storage.dispatch_get(dispatch_id), worker_id=worker_id, now=utcnow()
    )
    assert dispatch is not None
    return dispatch


def lines_shown(html):
    """(time or None, text) of each line of the page's log."""
    pre = re.search(r'<pre class="log" id="dispatch-log"[^>]*>(.*?)</pre>', html, re.S)
    assert pre is not None
    found = re.findall(
        r'<span class="ln"(?: data-time="([^"]*)" data-at="[^"]*")?>(.*?)</span>',
        pre.group(1),
        re.S,
    )
    return [(time or None, text) for time, text in found]


# --- each line has its time ------------------------------------------------------------------


def test_each_line_keeps_the_time_it_began_across_flushes_and_chunks(owner):
    _, issued, client = owner
    dispatch = claimed(create(issued.raw))
    writer = LogWriter(dispatch, max_bytes=10_000, chunk_bytes=8192, every=0)
    writer.buffer.feed(b"first\nsec", at_ms=T0)
    writer.flush()  # a line cut by the flush: its end comes later
    writer.buffer.feed(b"ond\nthird\n", at_ms=T0 + 2000)
    writer.flush()
    html = client.get(f"/dispatches/{dispatch.dispatch_id}/").content.decode()
    assert lines_shown(html) == [
        ("04:50:01", "first\n"),
        ("04:50:01", "second\n"),  # when it began, not when it ended
        ("04:50:03", "third\n"),
    ]
    assert 'id="log-untimed"' not in html
    # The text stays the output exactly, as the API's tail and the download read it.
    data = (
        Client()
        .get(f"/api/v1/dispatches/{dispatch.dispatch_id}", HTTP_X_API_KEY=issued.raw)
        .json()["data"]
    )
    assert data["logs"] == "first\nsecond\nthird\n"
    download = client.get(f"/dispatches/{dispatch.dispatch_id}/log.txt")
    assert download.content == b"first\nsecond\nthird\n"


def test_a_chunk_split_inside_a_line_gives_its_second_part_the_lines_time(owner):
    _, issued, _ = owner
    dispatch = claimed(create(issued.raw))
    writer = LogWriter(dispatch, max_bytes=10_000, chunk_bytes=4, every=0)
    writer.buffer.feed(b"abcdef\ng\n", at_ms=T0)
    writer.flush()
    chunks = storage.log_after(dispatch.dispatch_id, after=-1)
    assert [c.text for c in chunks] == ["abcd", "ef\ng", "\n"]
    assert [c.line_times for c in chunks] == [(T0,), (T0, T0), (T0,)]


def test_the_buffer_counts_a_line_start_per_line_whatever_the_reads():
    buffer = OutputBuffer(100)
    buffer.feed(b"a\n\nb", at_ms=1)  # "a", an empty line, "b" begun
    buffer.feed(b"c\nd\n", at_ms=2)  # "b" goes on; "d" begins
    assert buffer.take() == (b"a\n\nbc\nd\n", [1, 1, 1, 2])
    buffer.feed(b"x" * 200, at_ms=3)  # over the bound: the marker's lines count too
    data, starts = buffer.take()
    assert data.endswith(b"\n[output truncated]\n") and starts == [3, 3]


def test_lines_written_before_times_were_kept_show_none_and_say_so(owner):
    _, issued, client = owner
    dispatch = claimed(create(issued.raw))
    storage.log_append(dispatch, seq=0, text="old line\n", now=utcnow())  # no line_times
    lifecycle.log_append(dispatch, seq=1, text="new line\n", line_times=[T0])
    html = client.get(f"/dispatches/{dispatch.dispatch_id}/").content.decode()
    assert lines_shown(html) == [(None, "old line\n"), ("04:50:01", "new line\n")]
    assert 'id="log-untimed"' in html


def test_the_log_poll_sends_each_new_line_with_its_time(owner):
    _, issued, client = owner
    dispatch = claimed(create(issued.raw))
    lifecycle.log_append(dispatch, seq=0, text="one\ntw", line_times=[T0, T0 + 5])
    lifecycle.log_append(dispatch, seq=1, text="o\n", line_times=[T0 + 5])
    with counting_calls() as calls:
        body = client.get(f"/dispatches/{dispatch.dispatch_id}/log/?after=-1").json()
    assert calls.operations == ["GetItem", "Query"]  # as before: no call more
    assert body["lines"] == [[T0, "one\n"], [T0 + 5, "two\n"]]
    assert body["text"] == "one\ntwo\n"


def test_a_lines_html_is_escaped(owner):
    _, issued, client = owner
    dispatch = claimed(create(issued.raw))
    lifecycle.log_append(dispatch, seq=0, text="<script>x</script>\n", line_times=[T0])
    html = client.get(f"/dispatches/{dispatch.dispatch_id}/").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html


# --- the key and the worker or ECS task --------------------------------------------------------


def test_the_page_names_the_key_and_the_worker_without_a_call_more(owner):
    _, issued, client = owner
    dispatch_id = create(issued.raw)
    claimed(dispatch_id, worker_id="worker-7f3a")
    assert storage.dispatch_get(dispatch_id).api_key_name == issued.key.name
    with counting_calls() as calls:
        html = client.get(f"/dispatches/{dispatch_id}/").content.decode()
    assert calls.operations == ["GetItem", "Query"]  # the dispatch, its log tail: as before
    key = re.search(r'<dd id="run-key">(.*?)</dd>', html, re.S)
    assert key and issued.key.name in key.group(1) and issued.key.api_key_id in key.group(1)
    assert re.search(r'<dt>Worker</dt><dd id="run-worker"><code>worker-7f3a</code>', html)


def test_staff_see_the_ecs_task_that_ran_it(staff_client, owner):
    _, issued, _ = owner
    dispatch = claimed(create(issued.raw), worker_id="ecs-worker-1")
    arn = "arn:aws:ecs:eu-west-1:123456789012:task/outpost/0f1e2d3c4b5a"
    assert lifecycle.dispatch_record_task(dispatch, task_arn=arn)
    with counting_calls() as calls:
        html = staff_client.get(f"/dispatches/{dispatch.dispatch_id}/").content.decode()
    assert sorted(calls.operations) == ["BatchGetItem", "GetItem", "Query"]  # as before
    worker = re.search(r'<dt>ECS task</dt><dd id="run-worker">(.*?)</dd>', html, re.S)
    assert worker and f'<code title="{arn}">0f1e2d3c4b5a</code>' in worker.group(1)
    assert "ecs-worker-1" in worker.group(1)


def test_a_dispatch_without_a_recorded_key_name_says_so(owner):
    _, issued, client = owner
    dispatch_id = create(issued.raw)
    older = replace(storage.dispatch_get(dispatch_id), api_key_name="")  # as written before
    storage.call("put_item", TableName=storage.DISPATCHES.name, Item=storage._to_item(older))
    html = client.get(f"/dispatches/{dispatch_id}/").content.decode()
    key = re.search(r'<dd id="run-key">(.*?)</dd>', html, re.S)
    assert key and issued.key.api_key_id in key.group(1) and "not recorded" in key.group(1)
    assert "not started" in html


# --- "Run again": the request, pre-filled and editable -------------------------------------------


def finished(raw_key, **fields):
    dispatch_id = create(raw_key, **fields)
    assert lifecycle.dispatch_finish(
        storage.dispatch_get(dispatch_id), status=DispatchStatus.FAILED, exit_code=1
    )
    return dispatch_id


def form_of(client, dispatch_id):
    html = client.get(f"/dispatches/{dispatch_id}/rerun/").content.decode()
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token is not None
    original = storage.dispatch_get(dispatch_id)
    return html, {
        "task": original.task,
        "model_id": original.model_id,
        "timeout_seconds": str(original.timeout_seconds),
        "tags": tags_text(original.tags),
        "token": token.group(1),
    }


def test_run_again_opens_the_request_pre_filled(owner):
    _, issued, client = owner
    original = finished(issued.raw, tags={"team": "core", "ticket": "OPS-103"}, timeoutSeconds=900)
    with counting_calls() as calls:
        html = client.get(f"/dispatches/{original}/rerun/").content.decode()
    assert calls.operations == ["GetItem"]
    assert re.search(
        r'<textarea name="task"[^>]*>\n?Fix the failing test in utils.py</textarea>', html
    )
    assert '<option value="claude-opus-4-5-20251101" selected>' in html
    assert re.search(r'name="timeout_seconds" value="900"', html)
    assert re.search(r'<textarea name="tags"[^>]*>\n?team=core\nticket=OPS-103</textarea>', html)
    assert 'name="csrfmiddlewaretoken"' in html


def test_run_again_with_edits_creates_the_edited_dispatch_audited(owner):
    tenant, issued, client = owner
    original = finished(issued.raw, tags={"team": "core"})
    _, form = form_of(client, original)
    form |= {
        "task": "Fix the failing test in utils.py\r\nand the flaky one",
        "model_id": "claude-sonnet-4-5-20250929",
        "timeout_seconds": "1200",
        "tags": "team=platform\r\nurgent",
    }
    with counting_calls() as calls:
        done = client.post(f"/dispatches/{original}/rerun/", form)
    assert calls.operations == ["GetItem", "GetItem", "TransactWriteItems"]  # as before
    new_id = done["Location"].split("/")[-2]
    again = storage.dispatch_get(new_id)
    assert again.rerun_of == original and again.task.endswith("utils.py\nand the flaky one")
    assert (again.model_id, again.timeout_seconds) == ("claude-sonnet-4-5-20250929", 1200)
    assert again.tags == {"team": "platform", "urgent": ""}
    assert (again.agent, again.repo, again.branch) == ("claude", "acme/widgets", "main")
    events = [
        e
        for e in audit.audit_list(tenant_id=tenant.tenant_id, action="dispatch.create").items
        if e.resource == f"dispatch/{new_id}"
    ]
    assert events[0].metadata["rerunOf"] == original
    assert events[0].metadata["edited"] == ["task", "model", "timeout", "tags"]
    assert (
        client.post(f"/dispatches/{original}/rerun/", form)["Location"] == f"/dispatches/{new_id}/"
    )
    form["timeout_seconds"] = "1300"  # the same form sent again with other values
    refused = client.post(f"/dispatches/{original}/rerun/", form)
    assert refused.status_code == 409 and "other values" in refused.content.decode()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"task": "short"}, "task", "at least 10 characters"),
        ({"timeout_seconds": "10"}, "timeout_seconds", "greater than or equal to 30"),
        ({"timeout_seconds": "3601"}, "timeout_seconds", "At most 1800 seconds"),
        ({"timeout_seconds": "soon"}, "timeout_seconds", "whole number"),
        ({"model_id": "gpt-5.1-codex-max"}, "model_id", "Select a valid choice"),
        ({"tags": "=value"}, "tags", "Tag names are 1 to 64"),
        ({"tags": "\n".join(f"t{n}" for n in range(21))}, "tags", "At most 20 tags"),
        ({"token": "x"}, "token", "reload the page"),
    ],
)
def test_bad_values_come_back_next_to_their_field_and_create_nothing(owner, change, field, message):
    _, issued, client = owner
    original = finished(issued.raw)
    _, form = form_of(client, original)
    with counting_calls() as calls:
        response = client.post(f"/dispatches/{original}/rerun/", form | change)
    assert response.status_code == 400
    assert "TransactWriteItems" not in calls.operations
    html = response.content.decode()
    if field == "token":
        assert message in html
    else:
        error = re.search(rf'<p class="error" id="id_{field}_error">([^<]*)</p>', html)
        assert error and message in error.group(1)


def test_run_again_needs_the_csrf_token(owner, django_user_model):
    tenant, issued, _ = owner
    original = finished(issued.raw)
    user = django_user_model.objects.create_user(unique_email("csrf"), password="pw-user-1")
    TenantMembership.objects.create(user=user, tenant_id=tenant.tenant_id)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    _, form = form_of(client, original)
    assert client.post(f"/dispatches/{original}/rerun/", form).status_code == 403
    assert (
        storage.dispatch_list(tenant_id=tenant.tenant_id, limit=5).items[0].dispatch_id == original
    )


def test_a_free_tier_cap_is_checked_and_quotas_still_hold(make_tenant, login_member):
    tenant, issued = make_tenant(tier=Tier.FREE)
    client = login_member(tenant.tenant_id)
    original = finished(issued.raw, timeoutSeconds=60)
    _, form = form_of(client, original)
    create(issued.raw, timeoutSeconds=60)  # the one slot in use
    response = client.post(f"/dispatches/{original}/rerun/", form | {"task": "Another task here"})
    assert response.status_code == 409
    assert "concurrency limit of 1 is reached" in response.content.decode()


def test_another_tenants_run_again_is_a_404(owner, make_tenant, login_member):
    _, issued, _ = owner
    original = finished(issued.raw)
    other, _ = make_tenant()
    outsider = login_member(other.tenant_id)
    assert outsider.get(f"/dispatches/{original}/rerun/").status_code == 404
    assert outsider.post(f"/dispatches/{original}/rerun/", {"task": "x" * 20}).status_code == 404
    assert outsider.get(f"/dispatches/{original}/log.txt").status_code == 404


def test_a_rerun_through_the_api_records_its_keys_name(owner):
    _, issued, _ = owner
    original = finished(issued.raw)
    response = Client().post(
        f"/api/v1/dispatches/{original}/rerun",
        "{}",
        content_type="application/json",
        HTTP_X_API_KEY=issued.raw,
    )
    assert response.status_code == 201, response.content
    again = storage.dispatch_get(response.json()["data"]["dispatchId"])
    assert (again.api_key_id, again.api_key_name) == (issued.key.api_key_id, issued.key.name)


def test_times_that_do_not_fit_the_text_are_not_shown():
    chunk = LogChunk(0, "a\nb\n", utcnow(), (T0,))  # one time for two lines: not trusted
    assert log_lines([chunk]) == [LogLine("a\n", None), LogLine("b\n", None)]


def test_the_download_with_times_puts_each_lines_time_before_it(owner, make_tenant, login_member):
    _, issued, client = owner
    dispatch = claimed(create(issued.raw))
    storage.log_append(dispatch, seq=0, text="old\n", now=utcnow())
    lifecycle.log_append(dispatch, seq=1, text="new\nmore", line_times=[T0, T0 + 1500])
    with counting_calls() as calls:
        download = client.get(f"/dispatches/{dispatch.dispatch_id}/log.txt?times=1")
    assert calls.operations == ["GetItem", "Query"]
    assert download.content.decode() == (
        "-                        old\n2026-12-08T04:50:01.000Z new\n2026-12-08T04:50:02.500Z more"
    )
    assert f"dispatch-{dispatch.dispatch_id}-timed.log" in download["Content-Disposition"]
    assert download["Content-Type"] == "text/plain; charset=utf-8"
    other, _ = make_tenant()
    outsider = login_member(other.tenant_id)
    assert outsider.get(f"/dispatches/{dispatch.dispatch_id}/log.txt?times=1").status_code == 404
