"""Dispatches: statuses, the dispatch record. No I/O. (The agents are in outpost_admin.agents.)"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from outpost_admin.agents import AGENTS, Agent

__all__ = ["AGENTS", "API_STATUSES", "ORIGIN", "Agent", "Dispatch", "DispatchStatus"]

# What every dispatch created here says on its item: our workers claim only these.
ORIGIN = "outpost-admin"


class DispatchStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"

    @property
    def is_terminal(self) -> bool:
        return self not in (DispatchStatus.PENDING, DispatchStatus.RUNNING)

    @property
    def api_value(self) -> str:
        """What the API and pages show: lowercase, and COMPLETED as success."""
        return "success" if self == DispatchStatus.COMPLETED else self.value.lower()

    @classmethod
    def from_api(cls, value: str) -> "DispatchStatus":
        return cls.COMPLETED if value == "success" else cls(value.upper())


API_STATUSES = [s.api_value for s in DispatchStatus]


TASK_MIN, TASK_MAX = 10, 50_000
TIMEOUT_MIN, TIMEOUT_MAX, TIMEOUT_DEFAULT = 30, 86_400, 600
RETENTION_DAYS = 90


@dataclass(frozen=True)
class Dispatch:
    dispatch_id: str
    tenant_id: str
    agent: str
    model_id: str
    task: str
    status: DispatchStatus
    started_at: datetime  # creation time, as the control plane names it
    version: int = 1
    repo: str = ""
    branch: str = ""
    timeout_seconds: int = TIMEOUT_DEFAULT
    api_key_id: str = ""
    idempotency_key: str = ""
    tags: dict[str, str] = field(default_factory=dict)  # a map of strings, as the control plane's
    ended_at: datetime | None = None
    claimed_at: datetime | None = None
    worker_id: str = ""
    exit_code: int | None = None
    error_message: str = ""
    status_reason: str = ""
    expires_at: int = 0
    origin: str = ""  # ORIGIN for ours; empty for the control plane's
    task_arn: str = ""  # the ECS task running it (the control plane's, or our ecs executor's)
    # Derived attributes this project keeps; the control plane's items lack them until the
    # backfill fills them in (started_day + the day's count; the outcome's count).
    day_counted: bool = False
    outcome_counted: bool = False
    rerun_of: str = ""  # the finished dispatch this one runs again

    @property
    def is_ours(self) -> bool:
        return self.origin == ORIGIN

    @property
    def api_status(self) -> str:
        return self.status.api_value


@dataclass(frozen=True)
class LogChunk:
    seq: int
    text: str
    created_at: datetime


class QuotaExceeded(Exception):
    """Over a tenant's limit; details name which limit, its value, the current count, the reset."""

    def __init__(self, *, limit: str, maximum: int, current: int, resets_at: datetime | None):
        super().__init__(f"{limit} limit of {maximum} reached")
        self.limit, self.maximum, self.current, self.resets_at = limit, maximum, current, resets_at


class TenantNotActive(Exception):
    pass


class KeyNotActive(Exception):
    """The key was revoked or expired after the caller's process last verified it."""


class IdempotencyMismatch(Exception):
    """The key was used before with a different request body."""


class IdempotencyInFlight(Exception):
    """The first request with this key has not finished yet."""


class InvalidTransition(Exception):
    def __init__(self, status: DispatchStatus):
        super().__init__(f"The dispatch is already {status.api_value}.")
        self.status = status


class StillActive(Exception):
    """Only a finished dispatch can be run again."""

    def __init__(self, status: DispatchStatus):
        super().__init__(f"The dispatch is still {status.api_value}: run it again once it ends.")
        self.status = status
