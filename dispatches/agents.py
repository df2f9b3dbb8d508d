"""Which agents this deployment can run: the commands of the local executor, from settings."""

import json
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import checks

from .domain import AGENTS


class ConfigError(ValueError):
    pass


# Tenant-chosen values: an item that starts with one must come after "--".
_TENANT_VALUES = ("{task}", "{repo}", "{branch}")
_FIX = (
    'put "--" before it (["claude", "-p", "--", "{task}"]), join it to its option '
    '("--branch={branch}"), or let the agent read it from its environment ($TASK, $REPO_URL) '
    "or from a file ({task_file})"
)


@lru_cache(maxsize=8)
def _parse(raw: str) -> dict[str, tuple[str, ...]]:
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise ConfigError(f"OUTPOST_AGENT_COMMANDS is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("OUTPOST_AGENT_COMMANDS must be a JSON object")
    return {agent: _command(agent, argv) for agent, argv in data.items()}


def _command(agent: str, argv: Any) -> tuple[str, ...]:
    if agent not in AGENTS:
        raise ConfigError(f"OUTPOST_AGENT_COMMANDS names an unknown agent: {agent}")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ConfigError(f"OUTPOST_AGENT_COMMANDS[{agent}] must be a non-empty list of strings")
    options_end = argv.index("--", 1) if "--" in argv[1:] else len(argv)
    for item in argv[:options_end]:
        if item.startswith(_TENANT_VALUES):
            raise ConfigError(
                f'OUTPOST_AGENT_COMMANDS[{agent}]: "{item}" comes before "--", where a value '
                f'a tenant chose that starts with "-" would be read as an option: {_FIX}.'
            )
    return tuple(argv)


def agent_commands() -> dict[str, tuple[str, ...]]:
    return _parse(settings.OUTPOST_AGENT_COMMANDS)


def is_available(agent: str) -> bool:
    if settings.OUTPOST_EXECUTOR == "ecs":
        return agent in AGENTS
    return agent in agent_commands()


@checks.register(checks.Tags.compatibility)
def check_agent_commands(**_: Any) -> list[checks.CheckMessage]:
    """Refuse a bad OUTPOST_AGENT_COMMANDS at start-up (run_worker, migrate, check), not at
    the first dispatch."""
    try:
        agent_commands()
    except ConfigError as exc:
        return [checks.Error(str(exc), id="dispatches.E001")]
    return []
