"""Tenant users: inviting them, redeeming an invite, and which tenant a user belongs to.

A tenant user is a Django user (not staff) with a TenantMembership row naming its tenant.
Invite links are Django's password-reset tokens: they hash the user's password and last
login, so setting the password (and the login that follows) spends the link.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from outpost_admin.audit import Actor, audit_event, audit_write
from outpost_admin.dynamo import NotFound

from .models import TenantMembership
from .services import ServiceError

invite_tokens = PasswordResetTokenGenerator()


@dataclass(frozen=True)
class Invite:
    user: User
    email: str
    path: str  # /accounts/invite/<uidb64>/<token>/
    expires_at: datetime  # Django's PASSWORD_RESET_TIMEOUT after it was made


def tenant_user_invite(
    *, tenant_id: str, email: str, actor: Actor, tenant_name: str = ""
) -> Invite:
    """Create the user and its membership, audit it, and return the one-time link.

    The audit write happens inside the database transaction: if the store is down,
    no half-made user is left behind.
    """
    email = email.strip().lower()
    if get_user_model().objects.filter(username__iexact=email).exists():
        raise ServiceError("A user with this email already exists.", field="email")
    try:
        with transaction.atomic():
            user = _create_member(
                tenant_id=tenant_id, tenant_name=tenant_name, email=email, actor=actor
            )
    except IntegrityError as exc:  # the same email invited twice at once
        raise ServiceError("A user with this email already exists.", field="email") from exc
    expires_at = timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    return Invite(user=user, email=email, path=invite_path(user), expires_at=expires_at)


def _create_member(*, tenant_id: str, tenant_name: str, email: str, actor: Actor) -> User:
    user = get_user_model().objects.create_user(username=email, email=email, password=None)
    TenantMembership.objects.create(user=user, tenant_id=tenant_id, tenant_name=tenant_name)
    event = audit_event(
        tenant_id=tenant_id,
        action="user.invite",
        resource=f"user/{user.pk}",
        actor=actor,
        metadata={"email": email},
    )
    audit_write(event)
    return user


def invite_path(user: User) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("tenants:invite-accept", args=[uidb64, invite_tokens.make_token(user)])


def invite_user(*, uidb64: str, token: str) -> User | None:
    """The invited user if the link is still good, else None (bad, expired or already used)."""
    model = get_user_model()
    try:
        user = model.objects.get(pk=force_str(urlsafe_base64_decode(uidb64)))
    except (ValueError, TypeError, OverflowError, model.DoesNotExist):
        return None
    if not invite_tokens.check_token(user, token):
        return None
    return user


def invited_tenant_name(user: object) -> str:
    """The name of the tenant the user was invited to, as it was then ("" if unknown)."""
    try:
        return str(user.tenant_membership.tenant_name)  # type: ignore[attr-defined]
    except (AttributeError, ObjectDoesNotExist):
        return ""


def member_tenant_id(user: object) -> str | None:
    """The tenant a signed-in user belongs to, or None (staff, or no membership)."""
    try:
        return str(user.tenant_membership.tenant_id)  # type: ignore[attr-defined]
    except (AttributeError, ObjectDoesNotExist):
        return None


def member_list(*, tenant_id: str) -> list[TenantMembership]:
    return list(
        TenantMembership.objects.filter(tenant_id=tenant_id)
        .select_related("user")
        .order_by("created_at")
    )


def tenant_user_revoke(*, tenant_id: str, user_id: int, actor: Actor) -> User:
    """Take a tenant user's access away: the account can no longer sign in, and its open
    sessions stop working (Django refuses inactive users). Another tenant's user: NotFound."""
    membership = _membership(tenant_id=tenant_id, user_id=user_id)
    user = membership.user
    if not user.is_active:
        raise ServiceError("This user's access was already revoked.")
    event = audit_event(
        tenant_id=tenant_id,
        action="user.revoke",
        resource=f"user/{user.pk}",
        actor=actor,
        metadata={"email": user.email},
    )
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_write(event)
    return user


def member_get(*, tenant_id: str, user_id: int) -> TenantMembership:
    return _membership(tenant_id=tenant_id, user_id=user_id)


def _membership(*, tenant_id: str, user_id: int) -> TenantMembership:
    try:
        return TenantMembership.objects.select_related("user").get(
            tenant_id=tenant_id, user_id=user_id
        )
    except TenantMembership.DoesNotExist as exc:
        raise NotFound(f"user {user_id}") from exc
