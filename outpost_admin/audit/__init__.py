"""The audit trail: who did what to which tenant's things. Every app writes through this module.

It is the only module that builds audit items; others get a transaction action from
`audit_action(event)` and put it in their own transaction, or call `audit_write(event)`.
"""

from .domain import Actor, AuditEvent
from .services import audit_event, redact
from .storage import audit_action, audit_list, audit_write

__all__ = [
    "Actor",
    "AuditEvent",
    "audit_action",
    "audit_event",
    "audit_list",
    "audit_write",
    "redact",
]
