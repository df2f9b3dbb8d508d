"""Audit events and who caused them. No I/O."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Actor:
    """Who did something, from where: every audit record carries it."""

    name: str
    request_id: str = ""
    ip_address: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class AuditEvent:
    tenant_id: str
    timestamp: str
    action: str
    resource: str
    actor: str
    metadata: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    ip_address: str = ""
    user_agent: str = ""

    @property
    def occurred_at(self) -> str:
        return self.timestamp.split("#", 1)[0]
