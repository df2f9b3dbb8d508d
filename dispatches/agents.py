"""Which agents this deployment can run: the commands of the local executor, from settings."""

import json
from functools import lru_cache

from django.conf import settings

from .domain import AGENTS


class ConfigError(ValueError):
    pass


@lru_cache(maxsize=8)
def _parse(raw: str) -> dict[str, tuple[str, ...]]:
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise ConfigError(f"OUTPOST_AGENT_COMMANDS is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("OUTPOST_AGENT_COMMANDS must be a JSON object")
    commands = {}
    for agent, argv in data.items():
        if agent not in AGENTS:
            raise ConfigError(f"OUTPOST_AGENT_COMMANDS names an unknown agent: {agent}")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ConfigError(
                f"OUTPOST_AGENT_COMMANDS[{agent}] must be a non-empty list of strings"
            )
        commands[agent] = tuple(argv)
    return commands


def agent_commands() -> dict[str, tuple[str, ...]]:
    return _parse(settings.OUTPOST_AGENT_COMMANDS)


def is_available(agent: str) -> bool:
    if settings.OUTPOST_EXECUTOR == "ecs":
        return agent in AGENTS
    return agent in agent_commands()
