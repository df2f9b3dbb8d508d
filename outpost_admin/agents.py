"""The agent registry: which coding agents exist and their models. Apps read it from here."""

from dataclasses import dataclass


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
