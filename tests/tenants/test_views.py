"""Staff pages: each one for staff, anonymous, a signed-in outsider, htmx, and bad input."""

import json
import re
import uuid
from html import unescape

import pytest
from django.urls import reverse

from outpost_admin import audit
from outpost_admin.dynamo import call, counting_calls, to_item, utcnow
from outpost_admin.dynamo.tables import TENANTS
from tenants import authentication, keys, services, storage
from tenants.domain import KeyStatus, TenantStatus, Tier
from tests.conftest import another_admin_edits_first, unique_email

RAW_KEY = re.compile(r"otp_[0-9A-Za-z]{49}")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def tenant_and_key(make_tenant):
    return make_tenant(name="Viewed Co")


@pytest.fixture
def outsider_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("outsider", password="pw-out-1"))
    return client


def page_urls(tenant_id, key_id):
    """Every page, as (method, url)."""
    return [
        ("get", reverse("tenants:list")),
        ("get", reverse("tenants:provision")),
        ("get", reverse("tenants:detail", args=[tenant_id])),
        ("post", reverse("tenants:tier", args=[tenant_id])),
        ("get", reverse("tenants:budget", args=[tenant_id])),
        ("post", reverse("tenants:budget", args=[tenant_id])),
        ("get", reverse("tenants:suspend", args=[tenant_id])),
        ("get", reverse("tenants:reactivate", args=[tenant_id])),
        ("get", reverse("tenants:key-create", args=[tenant_id])),
        ("get", reverse("tenants:key-revoke", args=[tenant_id, key_id])),
        ("get", reverse("tenants:key-rotate", args=[tenant_id, key_id])),
        ("get", reverse("tenants:audit")),
    ]


def fetch(client, method, url, **kwargs):
    return getattr(client, method)(url, **kwargs)


def html(response):
    return response.content.decode()


def actions_of(tenant_id):
    return [e.action for e in audit.audit_list(tenant_id=tenant_id).items]


def field_error(response, field):
    """The error next to the field, which the field's aria-describedby names (so a screen
    reader reads it with the field)."""
    page = html(response)
    match = re.search(rf'<p class="error" id="id_{field}_error">([^<]*)</p>', page)
    assert match, f"no error next to {field!r}"
    assert re.search(rf'aria-describedby="[^"]*\bid_{field}_error\b', page), field
    return match.group(1)


# --- who may see the pages ----------------------------------------------------------------


def test_every_page_sends_anonymous_users_to_the_login_page(client, tenant_and_key):
    tenant, issued = tenant_and_key
    for method, url in page_urls(tenant.tenant_id, issued.key.api_key_id):
        response = fetch(client, method, url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_every_page_is_a_404_to_a_signed_in_user_who_is_not_staff(outsider_client, tenant_and_key):
    tenant, issued = tenant_and_key
    for method, url in page_urls(tenant.tenant_id, issued.key.api_key_id):
        assert fetch(outsider_client, method, url).status_code == 404, url


def test_every_page_but_the_tier_form_renders_for_staff(staff_client, tenant_and_key):
    tenant, issued = tenant_and_key
    for method, url in page_urls(tenant.tenant_id, issued.key.api_key_id):
        if method == "get":
            response = staff_client.get(url)
            assert response.status_code == 200, url
            assert "<html" in html(response), url


def test_every_page_answers_an_htmx_request_with_a_fragment(staff_client, tenant_and_key):
    tenant, issued = tenant_and_key
    for method, url in page_urls(tenant.tenant_id, issued.key.api_key_id):
        if method == "get":
            response = staff_client.get(url, headers=HTMX)
            assert response.status_code == 200, url
            assert "<html" not in html(response) and "<h1>" in html(response), url
            assert "HX-Request" in response["Vary"], url


def test_the_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200 and 'name="password"' in html(response)


def test_the_home_page_sends_staff_to_the_tenants(staff_client):
    assert staff_client.get("/")["Location"] == reverse("tenants:list")


def test_the_home_page_sends_anonymous_users_to_the_login_page(client):
    assert client.get("/")["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", ["detail", "suspend", "reactivate", "key-create"])
def test_an_unknown_tenant_is_a_404(staff_client, name):
    assert staff_client.get(reverse(f"tenants:{name}", args=[str(uuid.uuid4())])).status_code == 404


@pytest.mark.parametrize("name", ["key-revoke", "key-rotate"])
def test_another_tenants_key_is_a_404(staff_client, make_tenant, name):
    tenant, _ = make_tenant()
    _, other = make_tenant()
    url = reverse(f"tenants:{name}", args=[tenant.tenant_id, other.key.api_key_id])
    assert staff_client.get(url).status_code == 404
    assert staff_client.post(url, {"grace_hours": 1}).status_code == 404
    assert storage.key_get(other.key.api_key_id).status == KeyStatus.ACTIVE
    assert len(storage.keys_for_tenant(other.key.tenant_id)) == 1


# --- tenant list ------------------------------------------------------------------------------


def test_the_list_finds_tenants_by_name_prefix_and_by_email(staff_client, make_tenant):
    marker = f"viewlist{uuid.uuid4().hex[:8]}"
    first, _ = make_tenant(name=f"{marker} Alpha")
    second, _ = make_tenant(name=f"{marker} Beta")
    by_name = html(staff_client.get(reverse("tenants:list"), {"search": marker.upper()}))
    assert first.name in by_name and second.name in by_name
    by_email = html(staff_client.get(reverse("tenants:list"), {"search": second.email}))
    assert second.name in by_email and first.name not in by_email


def test_the_list_filters_by_status_and_tier(staff_client, make_tenant, actor):
    marker = f"viewfilter{uuid.uuid4().hex[:8]}"
    free, _ = make_tenant(name=f"{marker} Free", tier=Tier.FREE)
    paused, _ = make_tenant(name=f"{marker} Paused")
    services.tenant_set_status(
        tenant_id=paused.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
    )
    url = reverse("tenants:list")
    by_tier = html(staff_client.get(url, {"search": marker, "tier": "free"}))
    assert free.name in by_tier and paused.name not in by_tier
    by_status = html(staff_client.get(url, {"search": marker, "status": "suspended"}))
    assert paused.name in by_status and free.name not in by_status


def test_the_list_shows_an_error_for_an_unknown_filter(staff_client):
    response = staff_client.get(reverse("tenants:list"), {"tier": "gold"})
    assert response.status_code == 200
    assert "Select a valid choice" in field_error(response, "tier")


def test_the_list_loads_more_over_htmx(staff_client, make_tenant):
    marker = f"viewmore{uuid.uuid4().hex[:8]}"
    for i in range(51):
        make_tenant(name=f"{marker} {i:02d}")
    url = reverse("tenants:list")
    first = staff_client.get(url, {"search": marker})
    assert html(first).count(f"{marker} ") == 50 and f"{marker} 50" not in html(first)
    link = re.search(r'hx-get="([^"]+)"\s+hx-target="#load-more"', html(first))
    assert link, "no load more link"
    more = staff_client.get(url + link.group(1).replace("&amp;", "&"), headers=HTMX)
    assert more.status_code == 200
    assert "<html" not in html(more) and "<h1>" not in html(more)
    assert f"{marker} 50" in html(more) and html(more).count(f"{marker} ") == 1
    assert "load-more" not in html(more)


def test_a_tampered_list_cursor_is_a_400(staff_client):
    response = staff_client.get(reverse("tenants:list"), {"cursor": "forged.cursor"})
    assert response.status_code == 400
    assert (
        staff_client.get(reverse("tenants:list"), {"cursor": "x"}, headers=HTMX).status_code == 400
    )


# --- provisioning -----------------------------------------------------------------------------


def test_provisioning_shows_the_key_once_and_never_again(staff_client, client):
    email = unique_email()
    response = staff_client.post(
        reverse("tenants:provision"), {"name": "Fresh Co", "email": email, "tier": "starter"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    (raw,) = set(RAW_KEY.findall(html(response)))
    assert keys.is_well_formed(raw)
    tenant_id = storage.tenant_id_by_email(email)
    assert tenant_id is not None
    tenant = storage.tenant_get(tenant_id)
    assert tenant.name == "Fresh Co" and tenant.tier == Tier.STARTER
    assert 'data-copy="#raw-key"' in html(response)  # the copy button
    assert client.get("/api/v1/me", headers={"X-API-Key": raw}).status_code == 200
    detail = staff_client.get(reverse("tenants:detail", args=[tenant_id]))
    assert raw not in html(detail) and raw[:12] in html(detail)
    assert actions_of(tenant_id) == ["tenant.provision"]


def test_provisioning_over_htmx_returns_the_key_fragment_and_moves_the_url(staff_client):
    email = unique_email()
    response = staff_client.post(
        reverse("tenants:provision"),
        {"name": "Htmx Co", "email": email, "tier": "pro"},
        headers=HTMX,
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert "<html" not in html(response) and RAW_KEY.search(html(response))
    tenant_id = storage.tenant_id_by_email(email)
    assert response["HX-Push-Url"] == reverse("tenants:detail", args=[tenant_id])


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "email": "a@example.com", "tier": "pro"}, "name", "required"),
        ({"name": "   ", "email": "a@example.com", "tier": "pro"}, "name", "required"),
        ({"name": "X", "email": "not-an-email", "tier": "pro"}, "email", "valid email"),
        ({"name": "X", "email": "a@example.com", "tier": "gold"}, "tier", "valid choice"),
    ],
)
def test_provisioning_puts_an_error_next_to_a_bad_field(staff_client, data, field, message):
    response = staff_client.post(reverse("tenants:provision"), data)
    assert response.status_code == 400
    assert message in field_error(response, field)
    assert not RAW_KEY.search(html(response))


def test_provisioning_refuses_a_duplicate_email(staff_client, make_tenant):
    tenant, _ = make_tenant()
    data = {"name": "Again", "email": tenant.email.upper(), "tier": "pro"}
    response = staff_client.post(reverse("tenants:provision"), data)
    assert response.status_code == 400
    assert "already exists" in field_error(response, "email")


def test_a_bad_provisioning_over_htmx_returns_the_form_fragment(staff_client):
    response = staff_client.post(
        reverse("tenants:provision"), {"name": "", "email": "x", "tier": "pro"}, headers=HTMX
    )
    assert response.status_code == 400 and "<html" not in html(response)
    assert field_error(response, "name") and field_error(response, "email")


# --- tenant page --------------------------------------------------------------------------------


def test_the_tenant_page_shows_limits_usage_keys_and_recent_events(staff_client, tenant_and_key):
    tenant, issued = tenant_and_key
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    assert tenant.name in page and tenant.email in page
    assert "of 10" in page and "of 500" in page and "1800 s" in page
    assert issued.key.key_prefix in page and issued.raw not in page
    assert issued.key.key_hash not in page
    assert "tenant.provision" in page


def test_the_tenant_page_shows_when_a_key_was_last_used(staff_client, client, tenant_and_key):
    tenant, issued = tenant_and_key
    url = reverse("tenants:detail", args=[tenant.tenant_id])
    assert "never" in html(staff_client.get(url))
    client.get("/api/v1/me", headers={"X-API-Key": issued.raw})
    authentication.usage.wait()
    page = html(staff_client.get(url))
    assert "never" not in page and utcnow().strftime("%Y-%m-%d") in page


def test_no_page_scans_a_table(staff_client, tenant_and_key):
    tenant, issued = tenant_and_key
    with counting_calls() as log:
        for method, url in page_urls(tenant.tenant_id, issued.key.api_key_id):
            if method == "get":
                staff_client.get(url)
        staff_client.get(reverse("tenants:list"), {"status": "suspended", "tier": "free"})
        staff_client.get(reverse("tenants:audit"), {"action": "key.revoke"})
    assert "Scan" not in log.operations and log.count > 0


def test_changing_the_tier_updates_the_limits(staff_client, tenant_and_key):
    tenant, _ = tenant_and_key
    url = reverse("tenants:tier", args=[tenant.tenant_id])
    review = staff_client.post(url, {"tier": "enterprise"})
    assert review.status_code == 200 and "Change to enterprise" in html(review)
    assert storage.tenant_get(tenant.tenant_id).tier == Tier.PRO  # nothing changed yet
    response = staff_client.post(url, {"tier": "enterprise", "confirm": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("tenants:detail", args=[tenant.tenant_id])
    stored = storage.tenant_get(tenant.tenant_id)
    assert stored.tier == Tier.ENTERPRISE and stored.limits.max_concurrent_jobs == 50
    assert actions_of(tenant.tenant_id)[0] == "tenant.tier_change"


def test_an_unknown_tier_is_an_error_next_to_the_field(staff_client, tenant_and_key):
    tenant, _ = tenant_and_key
    url = reverse("tenants:tier", args=[tenant.tenant_id])
    response = staff_client.post(url, {"tier": "gold"})
    assert response.status_code == 400
    assert "valid choice" in field_error(response, "tier")
    htmx = staff_client.post(url, {"tier": "gold"}, headers=HTMX)
    assert htmx.status_code == 400 and "<html" not in html(htmx)
    assert storage.tenant_get(tenant.tenant_id).tier == Tier.PRO


def test_the_tier_form_only_accepts_posts(staff_client, tenant_and_key):
    tenant, _ = tenant_and_key
    assert staff_client.get(reverse("tenants:tier", args=[tenant.tenant_id])).status_code == 405


def test_suspending_asks_first_then_suspends(staff_client, client, tenant_and_key):
    tenant, issued = tenant_and_key
    url = reverse("tenants:suspend", args=[tenant.tenant_id])
    confirm = staff_client.get(url)
    assert "Suspend tenant" in html(confirm)
    assert storage.tenant_get(tenant.tenant_id).status == TenantStatus.ACTIVE
    response = staff_client.post(url, {"reason": "abuse report"})
    assert response.status_code == 302
    assert storage.tenant_get(tenant.tenant_id).status == TenantStatus.SUSPENDED
    assert client.get("/api/v1/me", headers={"X-API-Key": issued.raw}).status_code == 401
    assert actions_of(tenant.tenant_id)[0] == "tenant.suspend"
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    assert "Reactivate" in page


def test_reactivating_asks_first_then_reactivates(staff_client, client, tenant_and_key, actor):
    tenant, issued = tenant_and_key
    services.tenant_set_status(
        tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
    )
    url = reverse("tenants:reactivate", args=[tenant.tenant_id])
    assert "Reactivate tenant" in html(staff_client.get(url))
    assert staff_client.post(url).status_code == 302
    assert storage.tenant_get(tenant.tenant_id).status == TenantStatus.ACTIVE
    assert client.get("/api/v1/me", headers={"X-API-Key": issued.raw}).status_code == 200
    assert actions_of(tenant.tenant_id)[0] == "tenant.reactivate"


def test_reactivating_an_active_tenant_says_so(staff_client, tenant_and_key):
    tenant, _ = tenant_and_key
    response = staff_client.post(reverse("tenants:reactivate", args=[tenant.tenant_id]))
    assert response.status_code == 409 and "already active" in html(response)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("tier", {"tier": "free", "confirm": "1"}),
        ("suspend", {"reason": "abuse report"}),
        ("key-create", {"name": "late", "scopes": ["status"]}),
    ],
)
def test_a_change_that_loses_a_race_says_so_and_saves_nothing(
    staff_client, tenant_and_key, name, data
):
    tenant, _ = tenant_and_key
    url = reverse(f"tenants:{name}", args=[tenant.tenant_id])
    with another_admin_edits_first(tenant.tenant_id):
        response = staff_client.post(url, data)
    assert response.status_code == 409
    assert "nothing was saved" in html(response)
    stored = storage.tenant_get(tenant.tenant_id)
    assert stored.tier == Tier.PRO and stored.status == TenantStatus.ACTIVE
    assert len(storage.keys_for_tenant(tenant.tenant_id)) == 1
    assert actions_of(tenant.tenant_id) == ["tenant.provision"]


def test_a_change_that_loses_a_race_over_htmx_says_so_in_the_banner(staff_client, tenant_and_key):
    tenant, _ = tenant_and_key
    url = reverse("tenants:key-create", args=[tenant.tenant_id])
    with another_admin_edits_first(tenant.tenant_id):
        response = staff_client.post(url, {"name": "late", "scopes": ["status"]}, headers=HTMX)
    assert response.status_code == 409 and "<html" not in html(response)
    assert response["HX-Retarget"] == "#banner"


# --- keys -----------------------------------------------------------------------------------------


def test_creating_a_key_shows_it_once(staff_client, client, tenant_and_key):
    tenant, _ = tenant_and_key
    url = reverse("tenants:key-create", args=[tenant.tenant_id])
    response = staff_client.post(url, {"name": "deploy", "scopes": ["status", "list"]})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    (raw,) = set(RAW_KEY.findall(html(response)))
    me = client.get("/api/v1/me", headers={"X-API-Key": raw})
    assert me.json()["data"]["key"]["scopes"] == ["status", "list"]
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    assert raw not in page and raw[:12] in page and "deploy" in page
    assert actions_of(tenant.tenant_id)[0] == "key.create"


def test_creating_a_key_over_htmx_returns_the_key_fragment(staff_client, tenant_and_key):
    tenant, _ = tenant_and_key
    url = reverse("tenants:key-create", args=[tenant.tenant_id])
    response = staff_client.post(url, {"name": "hx", "scopes": ["status"]}, headers=HTMX)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    assert "<html" not in html(response) and RAW_KEY.search(html(response))
    assert response["HX-Push-Url"] == reverse("tenants:detail", args=[tenant.tenant_id])


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "scopes": ["status"]}, "name", "required"),
        ({"name": "k"}, "scopes", "required"),
        ({"name": "k", "scopes": ["root"]}, "scopes", "valid choice"),
        ({"name": "k", "scopes": ["status"], "expires_at": "someday"}, "expires_at", "valid"),
        ({"name": "k", "scopes": ["status"], "expires_at": "2001-01-01"}, "expires_at", "future"),
    ],
)
def test_creating_a_key_puts_an_error_next_to_a_bad_field(
    staff_client, tenant_and_key, data, field, message
):
    tenant, _ = tenant_and_key
    response = staff_client.post(reverse("tenants:key-create", args=[tenant.tenant_id]), data)
    assert response.status_code == 400
    assert message in field_error(response, field)
    assert len(storage.keys_for_tenant(tenant.tenant_id)) == 1


def test_a_key_with_an_expiry_lists_it(staff_client, tenant_and_key):
    tenant, _ = tenant_and_key
    url = reverse("tenants:key-create", args=[tenant.tenant_id])
    data = {"name": "temp", "scopes": ["status"], "expires_at": "2999-12-31T23:59"}
    assert staff_client.post(url, data).status_code == 200
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    assert "2999-12-31 23:59" in page


def test_revoking_a_key_asks_first_then_revokes(staff_client, client, tenant_and_key):
    tenant, issued = tenant_and_key
    url = reverse("tenants:key-revoke", args=[tenant.tenant_id, issued.key.api_key_id])
    confirm = staff_client.get(url)
    assert "Revoke key" in html(confirm) and issued.key.key_prefix in html(confirm)
    assert storage.key_get(issued.key.api_key_id).status == KeyStatus.ACTIVE
    response = staff_client.post(url)
    assert response.status_code == 302
    assert storage.key_get(issued.key.api_key_id).status == KeyStatus.REVOKED
    me = client.get("/api/v1/me", headers={"X-API-Key": issued.raw})
    assert me.status_code == 401 and "revoked" in me.json()["error"]["message"]
    assert actions_of(tenant.tenant_id)[0] == "key.revoke"


def test_revoking_a_revoked_key_says_so(staff_client, tenant_and_key):
    tenant, issued = tenant_and_key
    url = reverse("tenants:key-revoke", args=[tenant.tenant_id, issued.key.api_key_id])
    staff_client.post(url)
    response = staff_client.post(url)
    assert response.status_code == 409 and "already revoked" in html(response)


def test_rotating_a_key_shows_the_new_key_once_and_keeps_the_old_one_for_the_grace(
    staff_client, client, tenant_and_key
):
    tenant, issued = tenant_and_key
    url = reverse("tenants:key-rotate", args=[tenant.tenant_id, issued.key.api_key_id])
    assert "24" in html(staff_client.get(url))  # the default grace
    response = staff_client.post(url, {"grace_hours": 24})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    (raw,) = set(RAW_KEY.findall(html(response)))
    assert raw != issued.raw
    for key in (raw, issued.raw):
        assert client.get("/api/v1/me", headers={"X-API-Key": key}).status_code == 200
    old = storage.key_get(issued.key.api_key_id)
    assert old.expires_at is not None and old.expires_at > utcnow()
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    assert raw not in page and raw[:12] in page
    assert actions_of(tenant.tenant_id)[0] == "key.rotate"


def test_rotating_with_no_grace_stops_the_old_key(staff_client, client, tenant_and_key):
    tenant, issued = tenant_and_key
    url = reverse("tenants:key-rotate", args=[tenant.tenant_id, issued.key.api_key_id])
    assert staff_client.post(url, {"grace_hours": 0}).status_code == 200
    me = client.get("/api/v1/me", headers={"X-API-Key": issued.raw})
    assert me.status_code == 401 and "expired" in me.json()["error"]["message"]
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    assert "expired" in page


@pytest.mark.parametrize("grace", ["", "-1", "721", "soon"])
def test_rotating_puts_an_error_next_to_a_bad_grace(staff_client, tenant_and_key, grace):
    tenant, issued = tenant_and_key
    url = reverse("tenants:key-rotate", args=[tenant.tenant_id, issued.key.api_key_id])
    response = staff_client.post(url, {"grace_hours": grace})
    assert response.status_code == 400
    assert field_error(response, "grace_hours")
    assert len(storage.keys_for_tenant(tenant.tenant_id)) == 1


def test_rotating_a_revoked_key_is_refused(staff_client, tenant_and_key, actor):
    tenant, issued = tenant_and_key
    services.key_revoke(tenant_id=tenant.tenant_id, api_key_id=issued.key.api_key_id, actor=actor)
    url = reverse("tenants:key-rotate", args=[tenant.tenant_id, issued.key.api_key_id])
    response = staff_client.post(url, {"grace_hours": 1})
    assert response.status_code == 400 and "Only an active key" in html(response)


# --- audit log -----------------------------------------------------------------------------------


def test_the_audit_log_shows_who_did_what_from_where(staff_client, tenant_and_key):
    tenant, issued = tenant_and_key
    revoke = reverse("tenants:key-revoke", args=[tenant.tenant_id, issued.key.api_key_id])
    done = staff_client.post(revoke, headers={"X-Request-ID": "req-audit-page"})
    assert done.status_code == 302
    page = html(staff_client.get(reverse("tenants:audit"), {"tenant": tenant.tenant_id}))
    assert "key.revoke" in page and "tenant.provision" in page
    assert "staff" in page and "req-audit-page" in page and "127.0.0.1" in page
    assert issued.raw not in page


def test_the_audit_log_filters_by_action_and_day(staff_client, tenant_and_key, actor):
    tenant, issued = tenant_and_key
    services.key_revoke(tenant_id=tenant.tenant_id, api_key_id=issued.key.api_key_id, actor=actor)
    url = reverse("tenants:audit")
    only_revokes = html(staff_client.get(url, {"tenant": tenant.tenant_id, "action": "key.revoke"}))
    assert "key.revoke" in only_revokes and "tenant.provision" not in only_revokes
    today = html(staff_client.get(url, {"day": utcnow().date().isoformat()}))
    assert f"key/{issued.key.api_key_id}" in today
    long_ago = html(staff_client.get(url, {"day": "2001-01-01"}))
    assert "No events." in long_ago


@pytest.mark.parametrize(
    "query", [{"tenant": "no-such-tenant"}, {"day": "yesterday"}, {"action": "DROP TABLE"}]
)
def test_the_audit_log_shows_an_error_for_a_bad_filter(staff_client, query):
    response = staff_client.get(reverse("tenants:audit"), query)
    assert response.status_code == 200
    (field,) = query
    assert field_error(response, field)


def test_the_audit_log_loads_more_over_htmx(staff_client, tenant_and_key, actor):
    tenant, _ = tenant_and_key
    for i in range(50):
        audit.audit_write(
            audit.audit_event(
                tenant_id=tenant.tenant_id,
                action="x.test",
                resource=f"r/{i}",
                actor=actor,
                metadata={},
            )
        )
    first = staff_client.get(reverse("tenants:audit"), {"tenant": tenant.tenant_id})
    assert "tenant.provision" not in html(first)  # the oldest event is on the next page
    link = re.search(r'hx-get="([^"]+)"\s+hx-target="#load-more"', html(first))
    assert link, "no load more link"
    more = staff_client.get(
        reverse("tenants:audit") + link.group(1).replace("&amp;", "&"), headers=HTMX
    )
    assert more.status_code == 200 and "<html" not in html(more)
    assert "tenant.provision" in html(more) and "x.test" not in html(more)


def test_a_tampered_audit_cursor_is_a_400(staff_client, tenant_and_key):
    tenant, _ = tenant_and_key
    response = staff_client.get(
        reverse("tenants:audit"), {"tenant": tenant.tenant_id, "cursor": "x"}
    )
    assert response.status_code == 400


# --- a suspension says why (issue 14, point 8) -----------------------------------------------


def test_suspending_needs_a_reason_of_at_most_500_characters(staff_client, tenant_and_key):
    tenant, _ = tenant_and_key
    url = reverse("tenants:suspend", args=[tenant.tenant_id])
    assert 'name="reason"' in html(staff_client.get(url))
    for reason in ("", "   ", "x" * 501):
        response = staff_client.post(url, {"reason": reason})
        assert response.status_code == 400, reason
        assert field_error(response, "reason")
    assert storage.tenant_get(tenant.tenant_id).status == TenantStatus.ACTIVE
    assert actions_of(tenant.tenant_id) == ["tenant.provision"]


def test_the_reason_is_stored_audited_and_cleared_on_reactivation(
    staff_client, tenant_and_key, actor
):
    tenant, _ = tenant_and_key
    tid = tenant.tenant_id
    before = utcnow()
    staff_client.post(reverse("tenants:suspend", args=[tid]), {"reason": "Abuse <report> #12"})
    stored = storage.tenant_get(tid)
    assert stored.suspended_reason == "Abuse <report> #12"
    assert stored.suspended_at is not None and stored.suspended_at >= before
    event = audit.audit_list(tenant_id=tid).items[0]
    assert event.action == "tenant.suspend" and event.metadata["reason"] == "Abuse <report> #12"
    services.tenant_change_tier(tenant_id=tid, tier=Tier.FREE, actor=actor)
    # A tier change keeps it.
    assert storage.tenant_get(tid).suspended_reason == "Abuse <report> #12"
    assert staff_client.post(reverse("tenants:reactivate", args=[tid])).status_code == 302
    stored = storage.tenant_get(tid)
    assert stored.suspended_reason == "" and stored.suspended_at is None


# --- onboarding (issue 14, point 9) ------------------------------------------------------------


def test_a_new_key_comes_with_a_curl_that_dispatches_with_it(
    staff_client, client, tenant_and_key, settings
):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["true"]})  # a deployment's agent
    tenant, _ = tenant_and_key
    response = staff_client.post(
        reverse("tenants:key-create", args=[tenant.tenant_id]),
        {"name": "first", "scopes": ["dispatch", "status"]},
    )
    page = html(response)
    found = RAW_KEY.search(page)
    assert found
    raw = found.group(0)
    curl = re.search(r'<pre class="secret" id="curl-example">(.*?)</pre>', page, re.S)
    assert curl and 'data-copy="#curl-example"' in page
    command = unescape(curl.group(1))
    assert command.startswith("curl -X POST http://testserver/dispatch ")
    assert f'-H "X-API-Key: {raw}"' in command
    data = re.search(r"-d '(.*)'$", command)
    assert data
    body = json.loads(data.group(1))
    assert body["agent"] and body["task"]
    assert 'href="/api/docs/"' in page
    sent = client.post("/dispatch", body, content_type="application/json", HTTP_X_API_KEY=raw)
    assert sent.status_code == 201, sent.content


def test_a_tenant_without_keys_is_told_how_to_make_the_first(staff_client):
    """A tenant the control plane made has no key here yet."""
    tenant_id = str(uuid.uuid4())
    item = {
        "tenant_id": tenant_id,
        "sk": "TENANT",
        "tenantId": tenant_id,
        "name": "Keyless Co",
        "email": unique_email("keyless"),
        "tier": "pro",
        "status": "active",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
    }
    call("put_item", TableName=TENANTS.name, Item=to_item(item))
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant_id])))
    assert "No keys yet." in page
    assert f'href="{reverse("tenants:key-create", args=[tenant_id])}">Create the first key' in page


# --- what people come for first (issue 14, point 1) ---------------------------------------------


def test_the_tenant_page_puts_keys_users_and_dispatches_before_the_charts(
    staff_client, tenant_and_key
):
    tenant, _ = tenant_and_key
    page = html(staff_client.get(reverse("tenants:detail", args=[tenant.tenant_id])))
    order = [
        'id="usage-title"',  # the compact limits-and-usage card
        'id="keys-title"',
        'id="users-title"',
        'id="tenant-dispatches"',
        'id="tenant-billing"',
        'id="tenant-usage"',  # the charts, loaded after
    ]
    positions = [page.index(marker) for marker in order]
    assert positions == sorted(positions)
