"""Who is acting, taken from the request, for the audit trail."""

from typing import Any

from django.conf import settings

from outpost_admin.audit import Actor


def client_ip(request: Any) -> str:
    """The caller's address: behind OUTPOST_TRUSTED_PROXIES proxies, the address the outermost
    of them saw (X-Forwarded-For entries further left are the caller's to forge)."""
    proxies = settings.OUTPOST_TRUSTED_PROXIES
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if proxies and len(forwarded) >= proxies and forwarded[-proxies]:
        return forwarded[-proxies]
    return str(request.META.get("REMOTE_ADDR", ""))


def client_ip_of(request: Any) -> str:
    """django-axes' hook: the same address (it may call this without a request)."""
    return client_ip(request) if request is not None else ""


def actor_from(request: Any) -> Actor:
    user = getattr(request, "user", None)
    name = getattr(user, "username", "") or "anonymous"
    return Actor(
        name=name,
        request_id=getattr(request, "request_id", ""),
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
    )
