"""Who is acting, taken from the request, for the audit trail."""

from typing import Any

from outpost_admin.audit import Actor


def client_ip(request: Any) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def actor_from(request: Any) -> Actor:
    user = getattr(request, "user", None)
    name = getattr(user, "username", "") or "anonymous"
    return Actor(
        name=name,
        request_id=getattr(request, "request_id", ""),
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
    )
