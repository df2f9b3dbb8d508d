"""E-mails to a tenant's users (issue 15, point 7): a dispatch failed or timed out, N failed
in a row, an endpoint was disabled. Django's e-mail backend; at most one message per
cooldown for the dispatch ones (the tenant's NOTIFY item decides who sends, conditionally)."""

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from outpost_admin.dynamo import StoreError
from tenants.memberships import member_list

from . import storage
from .domain import Endpoint, NotifySettings

logger = logging.getLogger(__name__)
PREFIX = "[Outpost] "


def recipients(tenant_id: str) -> list[str]:
    """The tenant's users, by the address they sign in with."""
    found = []
    for membership in member_list(tenant_id=tenant_id):
        user = membership.user
        address = user.email or (user.username if "@" in user.username else "")
        if address:
            found.append(address)
    return sorted(set(found))


def _send(tenant_id: str, subject: str, body: str) -> None:
    to = recipients(tenant_id)
    if to:
        send_mail(PREFIX + subject, body, settings.DEFAULT_FROM_EMAIL, to)


def after_outcome(
    *,
    tenant_id: str,
    settings_: NotifySettings,
    dispatch_id: str,
    event_type: str,
    reason: str,
    now: datetime,
) -> bool:
    """A dispatch ended as `event_type`; `settings_` as read before this outcome was counted.
    True if a message was sent."""
    failed = event_type in ("dispatch.failed", "dispatch.timed_out")
    if not failed:
        return False
    in_row = settings_.failures_in_row + 1
    streak = settings_.streak and in_row >= settings_.streak
    if not (settings_.on_failure or streak):
        return False
    try:
        if not storage.notify_claim_send(
            tenant_id, now=now, cooldown_seconds=settings_.cooldown_seconds
        ):
            return False  # one message per cooldown
    except StoreError as exc:
        logger.warning("could not take the notification of %s: %s", tenant_id, exc)
        return False
    what = "timed out" if event_type == "dispatch.timed_out" else "failed"
    link = reverse("dispatches:detail", args=[dispatch_id])
    if streak:
        subject = f"{in_row} dispatches failed in a row"
        body = (
            f"The last {in_row} dispatches failed or timed out. The latest, {dispatch_id}, {what}"
        )
    else:
        subject = f"Dispatch {dispatch_id} {what}"
        body = f"Dispatch {dispatch_id} {what}"
    body += f": {reason}\n\n{link}\n" if reason else f".\n\n{link}\n"
    body += _footer(settings_.cooldown_seconds)
    _send(tenant_id, subject, body)
    return True


def _footer(cooldown_seconds: int) -> str:
    minutes = cooldown_seconds // 60
    return (
        f"\nYou get at most one such message every {minutes} min. "
        "Change this under Webhooks, Failure e-mails.\n"
    )


def endpoint_disabled(endpoint: Endpoint) -> None:
    subject = f"Webhook endpoint disabled: {endpoint.url}"
    body = (
        f"The webhook endpoint {endpoint.url} failed every delivery for 5 days and has been "
        "disabled. Nothing is sent to it until it is enabled again under Webhooks.\n"
    )
    _send(endpoint.tenant_id, subject, body)
