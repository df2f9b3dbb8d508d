"""Invite pages: staff invite a tenant user; the user redeems the one-time link."""

import logging
from datetime import UTC

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import SetPasswordForm
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from outpost_admin.actors import actor_from
from outpost_admin.pages import no_store, render_page, staff_required

from . import memberships, selectors
from .invite_forms import InviteForm
from .services import ServiceError

logger = logging.getLogger(__name__)


@staff_required
@require_http_methods(["GET", "POST"])
def invite_create(request: HttpRequest, tenant_id: str) -> HttpResponse:
    tenant = selectors.tenant_get(tenant_id=tenant_id)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invite = memberships.tenant_user_invite(
                tenant_id=tenant_id,
                tenant_name=tenant.name,
                email=form.cleaned_data["email"],
                actor=actor_from(request),
            )
        except ServiceError as exc:
            form.add_error(exc.field, str(exc))
        else:
            link = request.build_absolute_uri(invite.path)
            emailed = _send_invite(invite, tenant_name=tenant.name, link=link)
            context = {"tenant": tenant, "invite": invite, "link": link, "emailed": emailed}
            messages.success(request, f"{invite.email} is invited to {tenant.name}.")
            return no_store(render_page(request, "tenants/invite_sent.html", context))
    context = {
        "tenant": tenant,
        "form": form,
        "members": memberships.member_list(tenant_id=tenant_id),
    }
    status = 400 if form.errors else 200
    return render_page(request, "tenants/invite_create.html", context, status=status)


def _send_invite(invite: memberships.Invite, *, tenant_name: str, link: str) -> bool:
    """Email the link; False if that failed. The user exists by now, and the page shows the link."""
    one_line = " ".join(tenant_name.split())  # a line break in a header is refused
    expires = invite.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    message = (
        f"You have been invited to see the dispatches of {tenant_name} on Outpost.\n\n"
        f"Set your password here (the link works once, until {expires} UTC):\n{link}\n"
    )
    try:
        send_mail(f"Your Outpost account for {one_line}", message, None, [invite.email])
    except OSError as exc:  # SMTP errors included
        logger.warning("could not email the invite to %s: %s", invite.email, exc)
        return False
    return True


@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    user = memberships.invite_user(uidb64=uidb64, token=token)
    if user is None:
        return no_store(
            render_page(request, "tenants/invite_accept.html", {"form": None}, status=400)
        )
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.save(), backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    # 200 even with errors: Django logs 4xx URLs, and this one carries a still-valid token.
    context = {"form": form, "invited": user, "tenant_name": memberships.invited_tenant_name(user)}
    return no_store(render_page(request, "tenants/invite_accept.html", context))
