"""What a webhook URL may look like when it is saved (an endpoint, a dispatch's callbackUrl).

The address it resolves to is checked again at every send (webhooks/sending.py); this is
only the shape: https (plain http only where private addresses are allowed, for
development and tests: OUTPOST_WEBHOOK_ALLOW_PRIVATE), a host, no credentials, ≤ 2,048.
"""

from urllib.parse import urlsplit

from django.conf import settings

URL_MAX = 2048


def url_error(url: str) -> str | None:
    """Why this URL cannot receive webhooks, or None."""
    if not isinstance(url, str) or not url or len(url) > URL_MAX:
        return f"Must be a URL of 1 to {URL_MAX} characters."
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "Must not contain spaces or control characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "Not a valid URL."
    allowed = ("https", "http") if settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE else ("https",)
    if parts.scheme not in allowed:
        return "Must be an https URL."
    if not parts.hostname:
        return "Must name a host."
    if parts.username or parts.password:
        return "Must not carry a user name or password."
    return None
