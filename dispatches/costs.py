"""What a dispatch cost, priced exactly as the control plane's ledger prices it.

The control plane (`src/control-plane/src/integrations/ledger/`) prices a finished dispatch
from its duration (created -> ended, rounded to whole seconds), the vCPU and memory it was
given, and the LLM tokens found in its output: `cost-calculator.ts` has the rates, the model
tiers and the rounding to microdollars, `token-counter.ts` the patterns that find each agent's
token counts in its output, or an estimate from its length. This module implements the same
rules (tests/dispatches/test_costs.py holds the figures both give for the same inputs). The
float operations run in the ledger's order, so the doubles come out identical, and rounding
is JavaScript's Math.round (half up), not Python's round (half to even). No I/O.
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

# Fargate rates, per second.
VCPU_PER_SECOND = 0.000012
MEMORY_GB_PER_SECOND = 0.000001
EFS_GB_PER_MONTH = 0.30
SECONDS_PER_MONTH = 30 * 24 * 60 * 60

# LLM rates per token (input, output), by agent: the flagship model's price.
TOKEN_RATES = {
    "claude": (0.000015, 0.000075),
    "codex": (0.00001, 0.00003),
    "gemini": (0.00001, 0.00002),
    "aider": (0.0000014, 0.0000028),
    "grok": (0.000005, 0.000015),
}
TIER_MULTIPLIERS = {"flagship": 1.0, "balanced": 0.4, "fast": 0.1}
MODEL_TIERS = {  # the ledger's MODEL_TIER_MAP (cost-calculator.ts at fa61df7)
    "claude-opus-4-5-20251101": "flagship",
    "claude-opus-4-20250514": "flagship",
    "claude-sonnet-4-20250514": "balanced",
    "claude-3-5-sonnet-20241022": "balanced",
    "claude-3-5-haiku-20241022": "fast",
    "gpt-5.1-codex-max": "flagship",
    "gpt-4.1-codex": "balanced",
    "gpt-4o-mini": "fast",
    "gemini-3-flash-preview": "flagship",
    "gemini-3-pro-preview": "flagship",
    "gemini-2.5-pro": "flagship",
    "gemini-2.0-flash": "balanced",
    "gemini-2.0-flash-lite": "fast",
    "deepseek/deepseek-coder": "balanced",
    "deepseek-coder-v2": "balanced",
    "deepseek-coder": "fast",
    "grok-4-1-fast-reasoning": "flagship",
    "grok-4-fast-reasoning": "fast",
    "grok-3": "balanced",
    "grok-2": "fast",
}
# What the ledger assumes when a dispatch's resources are not known: 1 vCPU (1024 units), 2 GB.
DEFAULT_VCPU_UNITS = 1024
DEFAULT_MEMORY_MB = 2048
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Tokens:
    input: int
    output: int
    total: int
    source: str  # "parsed", "estimated" or "unavailable"


@dataclass(frozen=True)
class Cost:
    """A dispatch's price in USD, itemized, with what it was computed from."""

    compute: float
    memory: float
    llm: float
    storage: float
    total: float
    tier: str
    tier_multiplier: float
    tokens: Tokens
    duration_seconds: int
    vcpu_units: int
    memory_mb: int
    currency: str = "USD"

    def as_item(self) -> dict[str, object]:
        """The map stored on the dispatch (`cost`) and shown in the API."""
        return {
            "compute": self.compute,
            "memory": self.memory,
            "llm": self.llm,
            "storage": self.storage,
            "total": self.total,
            "currency": self.currency,
            "tier": self.tier,
            "tierMultiplier": self.tier_multiplier,
            "tokensInput": self.tokens.input,
            "tokensOutput": self.tokens.output,
            "tokenSource": self.tokens.source,
            "durationSeconds": self.duration_seconds,
            "vcpu": self.vcpu_units,
            "memoryMb": self.memory_mb,
        }


def model_tier(model_id: str) -> str:
    """Unknown models are priced as flagship, as the ledger does (the conservative guess)."""
    return MODEL_TIERS.get(model_id, "flagship")


def _microdollars(value: float) -> float:
    """JavaScript's Math.round(value * 1e6) / 1e6: halves round up, towards +infinity."""
    return math.floor(value * 1_000_000 + 0.5) / 1_000_000


def duration_seconds(started: datetime, ended: datetime) -> int:
    """Math.round((ended - started) / 1000) over whole milliseconds, as the ledger takes it."""
    millis = (ended - started) // timedelta(milliseconds=1)
    return math.floor(millis / 1000 + 0.5)


def price(
    *,
    agent: str,
    model_id: str,
    duration: int,
    tokens: Tokens,
    vcpu_units: int = DEFAULT_VCPU_UNITS,
    memory_mb: int = DEFAULT_MEMORY_MB,
    efs_bytes: int | None = None,
    persistent: bool = False,
) -> Cost:
    """The ledger's CostCalculatorService.calculate, for a run of `duration` seconds."""
    if duration < 0 or vcpu_units <= 0 or memory_mb <= 0 or tokens.input < 0 or tokens.output < 0:
        raise ValueError("duration and tokens must be non-negative; vcpu and memory positive")
    tier = model_tier(model_id)
    multiplier = TIER_MULTIPLIERS[tier]
    input_rate, output_rate = (rate * multiplier for rate in TOKEN_RATES[agent])
    vcpu = vcpu_units / 1024
    compute = duration * vcpu * VCPU_PER_SECOND
    memory = duration * (memory_mb / 1024) * MEMORY_GB_PER_SECOND
    llm = tokens.input * input_rate + tokens.output * output_rate
    storage = 0.0
    if persistent and efs_bytes:
        storage = (efs_bytes / (1024 * 1024 * 1024)) * (EFS_GB_PER_MONTH / SECONDS_PER_MONTH)
        storage = storage * duration
    total = compute + memory + llm + storage
    return Cost(
        compute=_microdollars(compute),
        memory=_microdollars(memory),
        llm=_microdollars(llm),
        storage=_microdollars(storage),
        total=_microdollars(total),
        tier=tier,
        tier_multiplier=multiplier,
        tokens=tokens,
        duration_seconds=duration,
        vcpu_units=vcpu_units,
        memory_mb=memory_mb,
    )


# --- tokens found in an agent's output (token-counter.ts) --------------------------------

_N = r"\s*:\s*([0-9]+)"  # JavaScript's \d is [0-9]; Python's would take any digit


def _usage(first: str, second: str) -> re.Pattern[str]:
    """A JSON "usage" object naming `first` and then `second` (the ledger's pattern)."""
    return re.compile(rf'"usage"\s*:\s*\{{[^}}]*"{first}"{_N}[^}}]*"{second}"{_N}[^}}]*\}}')


# (pattern, (group of input, group of output)), tried in order
_CLAUDE = [
    (_usage("input_tokens", "output_tokens"), (1, 2)),
    (_usage("output_tokens", "input_tokens"), (2, 1)),
]
_OPENAI = [
    (_usage("prompt_tokens", "completion_tokens"), (1, 2)),
    (_usage("completion_tokens", "prompt_tokens"), (2, 1)),
]
_GEMINI = [
    (re.compile(rf'"promptTokenCount"{_N}[^}}]*"candidatesTokenCount"{_N}'), (1, 2)),
    (re.compile(rf'"candidatesTokenCount"{_N}[^}}]*"promptTokenCount"{_N}'), (2, 1)),
]
_GEMINI_TOTAL = re.compile(
    rf'"promptTokenCount"{_N}[^}}]*"candidatesTokenCount"{_N}[^}}]*"totalTokenCount"{_N}'
)
_CODEX_TEXT = re.compile(
    r"Tokens?\s+used:\s*([0-9]+)\s*\(\s*input:\s*([0-9]+)\s*,\s*output:\s*([0-9]+)\s*\)",
    re.IGNORECASE,
)
_AIDER = re.compile(r"Tokens?:\s*([0-9,]+)\s*sent\s*,\s*([0-9,]+)\s*received", re.IGNORECASE)


def count_tokens(agent: str, output: str) -> Tokens:
    """The ledger's TokenCounterService.countTokens: the agent's own count, found in its
    output by the first pattern that matches (its first occurrence), else an estimate from
    the output's length (4 characters a token, 60 % input), else "unavailable"."""
    if not output.strip():
        return Tokens(0, 0, 0, "unavailable")
    found = _parsed(agent, output)
    return found if found is not None else estimate(output)


def estimate(text: str) -> Tokens:
    if not text.strip():
        return Tokens(0, 0, 0, "unavailable")
    units = len(text.encode("utf-16-le")) // 2  # JavaScript's length: UTF-16 code units
    total = math.ceil(units / CHARS_PER_TOKEN)
    tokens_in = math.ceil(total * 0.6)
    return Tokens(tokens_in, total - tokens_in, total, "estimated")


def _parsed(agent: str, output: str) -> Tokens | None:
    if agent == "codex" and (m := _CODEX_TEXT.search(output)):
        return _tokens(int(m.group(2)), int(m.group(3)))
    if agent == "gemini" and (m := _GEMINI_TOTAL.search(output)):
        return Tokens(int(m.group(1)), int(m.group(2)), int(m.group(3)), "parsed")
    if agent == "aider":
        m = _AIDER.search(output)
        return _tokens(_int(m.group(1)), _int(m.group(2))) if m else None
    patterns = {"claude": _CLAUDE, "codex": _OPENAI, "grok": _OPENAI, "gemini": _GEMINI}
    for pattern, (first, second) in patterns.get(agent, []):
        if m := pattern.search(output):
            return _tokens(int(m.group(first)), int(m.group(second)))
    return None


def _tokens(tokens_in: int, tokens_out: int) -> Tokens:
    return Tokens(tokens_in, tokens_out, tokens_in + tokens_out, "parsed")


def _int(digits: str) -> int:
    return int(digits.replace(",", ""))


class OutputMeter:
    """What the token count needs of a run's output, kept as it streams: the whole output up
    to `keep` characters (the ledger searches all of it, and the first count wins), beyond
    that its last `tail` characters, and its length for the estimate. Exact for any output up
    to `keep`; past it, a count that appears only in the middle is missed."""

    def __init__(self, *, keep: int = 1_000_000, tail: int = 65_536):
        self._head: list[str] = []
        self._kept = 0
        self._keep, self._tail_size = keep, tail
        self._tail = ""
        self._units = 0
        self._blank = True

    def feed(self, text: str) -> None:
        self._units += len(text.encode("utf-16-le")) // 2
        self._blank = self._blank and not text.strip()
        room = self._keep - self._kept
        if room > 0:
            self._head.append(text[:room])
            self._kept += len(text[:room])
        if self._kept >= self._keep:
            self._tail = (self._tail + text)[-self._tail_size :]

    def tokens(self, agent: str) -> Tokens:
        head = "".join(self._head)
        if self._kept < self._keep:
            return count_tokens(agent, head)
        if self._blank:
            return Tokens(0, 0, 0, "unavailable")
        found = _parsed(agent, head) or _parsed(agent, self._tail)
        if found is not None:
            return found
        total = math.ceil(self._units / CHARS_PER_TOKEN)
        tokens_in = math.ceil(total * 0.6)
        return Tokens(tokens_in, total - tokens_in, total, "estimated")
