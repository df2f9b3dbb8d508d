"""Dispatches: statuses, the agent registry, the dispatch record. No I/O."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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


@dataclass(frozen=True)
class Agent:
    name: str
    default_model: str
    models: tuple[str, ...]


AGENTS = {
    a.name: a
    for a in (
        Agent(
            "claude",
            "claude-opus-4-5-20251101",
            ("claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"),
        ),
        Agent(
            "codex",
            "gpt-5.1-codex-max",
            ("gpt-5.1-codex-max", "gpt-5.1-codex", "gpt-5.1-codex-mini"),
        ),
        Agent(
            "gemini", "gemini-3-flash-preview", ("gemini-3-flash-preview", "gemini-3-pro-preview")
        ),
        Agent(
            "aider",
            "deepseek/deepseek-coder",
            ("deepseek/deepseek-coder", "deepseek/deepseek-chat"),
        ),
        Agent(
            "grok",
            "grok-4-1-fast-reasoning",
            ("grok-4-1-fast-reasoning", "grok-4-1-fast-non-reasoning"),
        ),
    )
}

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
    tags: tuple[str, ...] = ()
    ended_at: datetime | None = None
    claimed_at: datetime | None = None
    worker_id: str = ""
    exit_code: int | None = None
    error_message: str = ""
    status_reason: str = ""
    expires_at: int = 0

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


class IdempotencyMismatch(Exception):
    """The key was used before with a different request body."""


class IdempotencyInFlight(Exception):
    """The first request with this key has not finished yet."""


class InvalidTransition(Exception):
    def __init__(self, status: DispatchStatus):
        super().__init__(f"The dispatch is already {status.api_value}.")
        self.status = status
