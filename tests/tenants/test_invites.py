"""Staff invite tenant users; the one-time link sets a password and signs the user in."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from outpost_admin.dynamo import counting_calls, local
from tenants import selectors
from tenants.models import TenantMembership
from tests.conftest import unique_email

pytestmark = pytest.mark.django_db


def invite(staff_client, tenant_id, email):
    return staff_client.post(f"/tenants/{tenant_id}/users/invite/", {"email": email})


def link_in(response):
    match = re.search(
        r"https?://[^/\s]+(/accounts/invite/[^/\s]+/[^/\s<]+/)", response.content.decode()
    )
    assert match, "the invite link is shown"
    return match.group(1)


def test_staff_invite_a_user_and_get_a_one_time_link(staff_client, make_tenant, mailoutbox):
    tenant, _ = make_tenant()
    email = unique_email("invitee")
    response = invite(staff_client, tenant.tenant_id, email.upper())
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    path = link_in(response)
    user = get_user_model().objects.get(username=email)
    assert user.email == email and not user.is_staff and not user.has_usable_password()
    assert TenantMembership.objects.get(user=user).tenant_id == tenant.tenant_id
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [email]
    assert path in mailoutbox[0].body and tenant.name in mailoutbox[0].subject
    events = selectors.audit_list(tenant_id=tenant.tenant_id, action="user.invite").items
    assert len(events) == 1 and events[0].actor == "staff"
    assert events[0].metadata == {"email": email} and events[0].resource == f"user/{user.pk}"
    listing = staff_client.get(f"/tenants/{tenant.tenant_id}/users/invite/").content.decode()
    assert email in listing and "not yet" in listing


def test_a_tenant_name_with_a_line_break_still_gets_its_invite_emailed(
    staff_client, make_tenant, mailoutbox
):
    tenant, _ = make_tenant(name="Acme\nBcc: someone@example.com")
    response = invite(staff_client, tenant.tenant_id, unique_email("invitee"))
    assert response.status_code == 200 and "not-emailed" not in response.content.decode()
    (mail,) = mailoutbox
    assert mail.subject == "Your Outpost account for Acme Bcc: someone@example.com"
    assert mail.recipients() == [mail.to[0]] and link_in(response) in mail.body


def test_when_the_email_cannot_be_sent_the_page_still_shows_the_link(
    staff_client, make_tenant, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", local.free_port()  # nobody listens
    tenant, _ = make_tenant()
    email = unique_email("invitee")
    response = invite(staff_client, tenant.tenant_id, email)
    assert response.status_code == 200 and 'id="invite-not-emailed"' in response.content.decode()
    path = link_in(response)
    assert Client().get(path).status_code == 200
    assert get_user_model().objects.filter(username=email).exists()


def test_the_link_sets_a_password_signs_in_and_works_once(staff_client, make_tenant):
    tenant, _ = make_tenant()
    email = unique_email("invitee")
    path = link_in(invite(staff_client, tenant.tenant_id, email))
    browser = Client()
    form = browser.get(path)
    assert form.status_code == 200 and "new_password1" in form.content.decode()
    response = browser.post(
        path, {"new_password1": "a-Good-pass-42", "new_password2": "a-Good-pass-42"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    home = browser.get("/", follow=True)
    assert home.redirect_chain[-1][0] == "/home/" and tenant.name in home.content.decode()
    again = Client()
    assert again.get(path).status_code == 400
    reuse = again.post(path, {"new_password1": "Other-pass-987", "new_password2": "Other-pass-987"})
    assert reuse.status_code == 400 and "does not work" in reuse.content.decode()
    assert again.login(username=email, password="a-Good-pass-42")
    assert not again.login(username=email, password="Other-pass-987")


def test_mismatched_passwords_are_form_errors_and_keep_the_link(staff_client, make_tenant):
    tenant, _ = make_tenant()
    path = link_in(invite(staff_client, tenant.tenant_id, unique_email("invitee")))
    response = Client().post(
        path, {"new_password1": "a-Good-pass-42", "new_password2": "different-1"}
    )
    # 200: a 4xx would put the URL, with its still-valid token, in Django's request log.
    assert response.status_code == 200 and 'class="error"' in response.content.decode()
    assert Client().get(path).status_code == 200


@pytest.mark.parametrize("password", ["a", "12345678901", "password123"])
def test_a_weak_password_is_refused_and_keeps_the_link(staff_client, make_tenant, password):
    tenant, _ = make_tenant()
    path = link_in(invite(staff_client, tenant.tenant_id, unique_email("invitee")))
    response = Client().post(path, {"new_password1": password, "new_password2": password})
    assert response.status_code == 200 and 'class="error"' in response.content.decode()
    assert Client().get(path).status_code == 200


@pytest.mark.parametrize("path", ["/accounts/invite/MQ/bad-token/", "/accounts/invite/%3F%3F/x-y/"])
def test_a_forged_link_is_refused(path):
    response = Client().get(path)
    assert response.status_code == 400 and "does not work" in response.content.decode()


def test_bad_emails_are_form_errors(staff_client, make_tenant):
    tenant, _ = make_tenant()
    bad = invite(staff_client, tenant.tenant_id, "not-an-email")
    assert bad.status_code == 400 and "Enter a valid email address." in bad.content.decode()
    email = unique_email("twice")
    assert invite(staff_client, tenant.tenant_id, email).status_code == 200
    twice = invite(staff_client, tenant.tenant_id, email)
    assert twice.status_code == 400 and "already exists" in twice.content.decode()
    assert get_user_model().objects.filter(username=email).count() == 1
    assert len(selectors.audit_list(tenant_id=tenant.tenant_id, action="user.invite").items) == 1


def test_an_existing_username_is_refused_whatever_its_case(
    staff_client, make_tenant, django_user_model
):
    tenant, _ = make_tenant()
    django_user_model.objects.create_user("taken@example.com")
    response = invite(staff_client, tenant.tenant_id, "TAKEN@example.com")
    assert response.status_code == 400 and "already exists" in response.content.decode()


def test_only_staff_can_invite(make_tenant, django_user_model):
    tenant, _ = make_tenant()
    url = f"/tenants/{tenant.tenant_id}/users/invite/"
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    member = django_user_model.objects.create_user(unique_email("member"), password="pw-member-1")
    TenantMembership.objects.create(user=member, tenant_id=tenant.tenant_id)
    client = Client()
    client.force_login(member)
    assert client.get(url).status_code == 404
    assert client.post(url, {"email": unique_email("sneaky")}).status_code == 404


def test_inviting_to_an_unknown_tenant_is_404(staff_client):
    url = "/tenants/00000000-0000-4000-8000-000000000000/users/invite/"
    assert staff_client.get(url).status_code == 404
    assert (
        invite(staff_client, "00000000-0000-4000-8000-000000000000", unique_email()).status_code
        == 404
    )


def test_the_tenant_page_links_to_the_invite(staff_client, make_tenant):
    tenant, _ = make_tenant()
    html = staff_client.get(f"/tenants/{tenant.tenant_id}/").content.decode()
    assert f'href="/tenants/{tenant.tenant_id}/users/invite/"' in html and "Invite user" in html


def test_the_invite_page_over_htmx_is_a_fragment(staff_client, make_tenant):
    tenant, _ = make_tenant()
    response = staff_client.get(
        f"/tenants/{tenant.tenant_id}/users/invite/", HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and "csrfmiddlewaretoken" in html
    assert "HX-Request" in response["Vary"]


# --- onboarding (issue 14, point 9) ------------------------------------------------------------


def test_an_invite_names_its_tenant_and_its_expiry(staff_client, make_tenant, mailoutbox, settings):
    settings.PASSWORD_RESET_TIMEOUT = 2 * 24 * 3600
    tenant, _ = make_tenant(name="Invite <Named> Co")
    before = timezone.now()
    response = invite(staff_client, tenant.tenant_id, unique_email("named"))
    page = response.content.decode()
    expiry = re.search(r'<strong id="invite-expiry">([^<]+) UTC</strong>', page)
    assert expiry, page
    expected = {(before + timedelta(days=2, minutes=m)).strftime("%Y-%m-%d %H:%M") for m in (0, 1)}
    assert expiry.group(1) in expected
    assert "Invite &lt;Named&gt; Co" in page
    assert f"until {expiry.group(1)} UTC" in mailoutbox[0].body
    assert "Invite <Named> Co" in mailoutbox[0].body


def test_the_accept_page_names_the_tenant_without_reading_dynamodb(staff_client, make_tenant):
    tenant, _ = make_tenant(name="Accept <Named> Co")
    path = link_in(invite(staff_client, tenant.tenant_id, unique_email("accept")))
    with counting_calls() as calls:
        page = Client().get(path).content.decode()
    assert calls.count == 0
    assert '<strong id="invited-tenant">Accept &lt;Named&gt; Co</strong>' in page
