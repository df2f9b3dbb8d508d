"""Opaque pagination cursors: a LastEvaluatedKey signed and bound to a scope (the tenant)."""

from typing import Any

from django.core import signing

from .errors import BadCursor


def _salt(scope: str) -> str:
    return f"outpost.cursor:{scope}"


def encode_cursor(last_key: dict[str, Any] | None, *, scope: str) -> str | None:
    if not last_key:
        return None
    return signing.dumps(last_key, salt=_salt(scope), compress=True)


def decode_cursor(token: str | None, *, scope: str) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        value = signing.loads(token, salt=_salt(scope))
    except signing.BadSignature as exc:
        raise BadCursor("invalid cursor") from exc
    if not isinstance(value, dict):
        raise BadCursor("invalid cursor")
    return value
