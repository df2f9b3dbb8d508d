"""Building audit events: a unique sort key, the actor's details, secrets redacted."""

import re
import secrets
from datetime import datetime
from typing import Any

from outpost_admin.dynamo import iso, utcnow

from .domain import Actor, AuditEvent

# Names that hold a secret: "key", "apiKey", "rawKey", "keyHash", "secret", "password", ...
# (but not "keyPrefix" or "newKeyId", which identify a key without revealing it).
_SECRET_NAME = re.compile(r"(^|[a-z_])(key|secret|token|password|hash)$", re.IGNORECASE)


def event_key(occurred_at: datetime) -> str:
    """Sort key: the time, then a random suffix so two events never overwrite each other."""
    return f"{iso(occurred_at)}#{secrets.token_hex(4)}"


def audit_event(
    *, tenant_id: str, action: str, resource: str, actor: Actor, metadata: dict[str, Any]
) -> AuditEvent:
    return AuditEvent(
        tenant_id=tenant_id,
        timestamp=event_key(utcnow()),
        action=action,
        resource=resource,
        actor=actor.name,
        metadata=redact(metadata),
        request_id=actor.request_id,
        ip_address=actor.ip_address,
        user_agent=actor.user_agent[:512],
    )


def redact(metadata: dict[str, Any]) -> dict[str, Any]:
    """Audit metadata never carries secrets, whatever a caller passes."""
    return {k: "[redacted]" if _SECRET_NAME.search(k) else v for k, v in metadata.items()}
