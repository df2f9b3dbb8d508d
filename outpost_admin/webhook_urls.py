"""What a webhook URL may look like when it is saved (an endpoint, a dispatch's callbackUrl).

The address it resolves to is checked again at every send (webhooks/sending.py); this is
only the shape: https (plain http only where private addresses are allowed, for
development and tests: OUTPOST_WEBHOOK_ALLOW_PRIVATE), a host, no credentials, ≤ 2,048.
"""

import re
from urllib.parse import urlsplit

from django.conf import settings

URL_MAX = 2048
# The shape as a pattern the API schema states and the check below applies, the same in
# ECMA and Python (explicit ranges, no \s): the scheme, an ASCII host (a name or an IPv4
# address; no user name or password, IDN hosts in punycode), a port up to 65535, then
# anything but control and space characters.
_HOST = r"[A-Za-z0-9._~%!$&'()*+,;=-]+"
_PORT = r"(?::(?:[0-9]{0,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
_REST = r"(?:[/?#][^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*)?"
HTTPS_URL = rf"^https://{_HOST}{_PORT}{_REST}$"
_HTTP_URL = rf"^http://{_HOST}{_PORT}{_REST}$"
# What the API schema states: either scheme (plain http is refused, with a 400 naming the
# field, unless OUTPOST_WEBHOOK_ALLOW_PRIVATE: development and tests).
WEBHOOK_URL = rf"^https?://{_HOST}{_PORT}{_REST}$"


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
    shapes = (HTTPS_URL, _HTTP_URL) if settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE else (HTTPS_URL,)
    if not any(re.fullmatch(shape, url) for shape in shapes):
        return "Must be an https URL with an ASCII host name (punycode for others)."
    return None
