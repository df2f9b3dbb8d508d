"""Dispatches: statuses, the dispatch record. No I/O. (The agents are in outpost_admin.agents.)"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from outpost_admin.agents import AGENTS, Agent
from outpost_admin.validation import VISIBLE_NAME

__all__ = [
    "AGENTS",
    "API_STATUSES",
    "ORIGIN",
    "Agent",
    "Dispatch",
    "DispatchStatus",
    "LogLine",
    "log_lines",
    "log_pieces",
]

# What every dispatch created here says on its item: our workers claim only these.
ORIGIN = "outpost-admin"
COUNTED_BY_STREAM = "stream"  # `counted_by` on ours: the usage roll-ups count it from the stream
REFUSED = "REFUSED#"  # the sort key prefix of a refused create's item, counted from the stream


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


MAX_TAGS, TAG_NAME_MAX, TAG_VALUE_MAX = 20, 64, 256
_VISIBLE_NAME = re.compile(VISIBLE_NAME)


def tag_rules(tags: dict[str, str]) -> dict[str, str]:
    """The tags, or ValueError saying which rule they break (the API's and the pages')."""
    if len(tags) > MAX_TAGS:
        raise ValueError(f"At most {MAX_TAGS} tags.")
    if not all(1 <= len(k) <= TAG_NAME_MAX for k in tags):
        raise ValueError(f"Tag names are 1 to {TAG_NAME_MAX} characters.")
    if not all(_VISIBLE_NAME.fullmatch(k) for k in tags):
        raise ValueError("A tag name may not be blank nor hold control or format characters.")
    if not all(len(v) <= TAG_VALUE_MAX for v in tags.values()):
        raise ValueError(f"Tag values are at most {TAG_VALUE_MAX} characters.")
    return tags


TASK_MIN, TASK_MAX = 10, 50_000
TIMEOUT_MIN, TIMEOUT_MAX, TIMEOUT_DEFAULT = 30, 86_400, 600
RETENTION_DAYS = 90

# What an agent's command may receive as a repository and a branch: nothing it could read as
# an option or a path out of its checkout. ECMA and Rust regex alike (the schema states them
# and Schemathesis reads them), so no look-arounds: each rule is built into the grammar.
_NAME_CHAR = "[A-Za-z0-9_-]"
REPO_MAX = 140  # a 39-character owner, "/", a 100-character name
REPO_PATTERN = (
    # owner: GitHub's letters, digits and hyphens, not first; name: no leading "-" or ".",
    # no "..", no trailing "." (GitHub drops it).
    rf"^[A-Za-z0-9][A-Za-z0-9-]{{0,38}}/[A-Za-z0-9_]{_NAME_CHAR}*(?:\.{_NAME_CHAR}+)*$"
)
# A dot-separated part other than "lock", so no component ends in ".lock".
_NOT_LOCK = (
    rf"(?:{_NAME_CHAR}{{1,3}}|{_NAME_CHAR}{{5,}}|[A-Za-km-z0-9_-]{_NAME_CHAR}{{3}}"
    rf"|l[A-Za-np-z0-9_-]{_NAME_CHAR}{{2}}|lo[A-Zabd-z0-9_-]{_NAME_CHAR}|loc[A-Za-jl-z0-9_-])"
)
_COMPONENT_REST = rf"{_NAME_CHAR}*(?:(?:\.{_NAME_CHAR}+)*\.{_NOT_LOCK})?"
BRANCH_MAX = 255
BRANCH_PATTERN = (
    # `git check-ref-format --branch` over letters, digits, "_", "-", "." and "/": components
    # that neither start with "." nor end with ".lock", no "..", no "//", no leading or
    # trailing "/", not ending in "."; and no leading "-", where git would read an option.
    rf"^[A-Za-z0-9_]{_COMPONENT_REST}(?:/{_NAME_CHAR}{_COMPONENT_REST})*$"
)


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
    rerun_of: str = ""  # the finished dispatch this one runs again
    interruptions: int = 0  # runs cut short (worker died or stopped) and queued again
    cost: dict[str, Any] | None = None  # costs.Cost.as_item(), set when it ends
    callback_url: str = ""  # receives its terminal webhook event (issue 15)
    api_key_name: str = ""  # the key's name when it was created (none on older records)

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
    # When each of its lines began (epoch ms, CloudWatch's unit), one per piece of `text` that
    # log_pieces() gives; empty on chunks written before times were kept.
    line_times: tuple[int, ...] = ()


@dataclass(frozen=True)
class LogLine:
    """A line of output as a page shows it: `at` is when it began, None when not recorded."""

    text: str
    at: datetime | None


_PIECE = re.compile(r"[^\n]*\n|[^\n]+")


def log_pieces(text: str) -> list[str]:
    """The text cut after each newline: a line, or the part of one a chunk holds."""
    return _PIECE.findall(text)


def log_lines(chunks: list[LogChunk]) -> list[LogLine]:
    """Chunks as lines with their times: a piece that continues a line joins it (a writer
    gives a continued line's pieces the time the line began, so a first piece that continues
    a line shown before keeps its time too)."""
    lines: list[LogLine] = []
    for chunk in chunks:
        pieces = log_pieces(chunk.text)
        times = chunk.line_times if len(chunk.line_times) == len(pieces) else ()
        for n, piece in enumerate(pieces):
            at = datetime.fromtimestamp(times[n] / 1000, UTC) if times else None
            if lines and not lines[-1].text.endswith("\n"):
                lines[-1] = LogLine(lines[-1].text + piece, lines[-1].at)
            else:
                lines.append(LogLine(piece, at))
    return lines


class QuotaExceeded(Exception):
    """Over a tenant's limit; details name which limit, its value, the current count, the reset."""

    def __init__(self, *, limit: str, maximum: int, current: int, resets_at: datetime | None):
        super().__init__(f"{limit} limit of {maximum} reached")
        self.limit, self.maximum, self.current, self.resets_at = limit, maximum, current, resets_at


class BudgetExceeded(QuotaExceeded):
    """This month's recorded spend has reached a hard budget (`limit` "budget" for the
    tenant's, "key_budget" for the key's); amounts in micro-USD, `resets_at` the next month."""

    def __init__(self, *, limit: str, maximum: int, current: int, resets_at: datetime):
        super().__init__(limit=limit, maximum=maximum, current=current, resets_at=resets_at)


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


@dataclass(frozen=True)
class RowFilters:
    """Filters only `user-dispatches-index` (ALL) can apply: a tag (a name, or a name and its
    value), the key (its id, or the name recorded on the dispatch), and the order."""

    tag_name: str = ""
    tag_value: str | None = None  # None: any value
    key_id: str = ""
    key_name: str = ""
    oldest_first: bool = False

    def scope(self) -> str:
        if self == RowFilters():
            return ""  # cursors made before these filters existed stay valid
        return (
            f":{self.tag_name}={self.tag_value}:{self.key_id}:{self.key_name}:{self.oldest_first}"
        )
