"""Stand-in agent commands for `make run`: every agent "works" for ~2 s and succeeds."""

import json
import sys

from dispatches.domain import AGENTS

DEMO_SCRIPT = """
import os, time
agent, model = os.environ["AGENT_TYPE"], os.environ["MODEL_ID"]
print(f"[{agent}] demo agent, model {model}", flush=True)
print("task:", os.environ["TASK"][:200], flush=True)
print("repo:", os.environ.get("REPO_URL") or "(none)", flush=True)
for step in ("reading the code", "making the change", "running the tests"):
    time.sleep(0.6)
    print(f"[{agent}] {step}...", flush=True)
print(f"[{agent}] done", flush=True)
"""


def demo_agent_commands(python: str = sys.executable) -> str:
    """OUTPOST_AGENT_COMMANDS (JSON) running the demo script for every agent."""
    return json.dumps({name: [python, "-c", DEMO_SCRIPT] for name in AGENTS})
