"""TransactWriteItems, retried while it only lost a race with another transaction."""

import random
import time
from typing import Any

from .client import call
from .errors import TransactionConflict

ATTEMPTS = 8


def transact_write(actions: list[dict[str, Any]]) -> None:
    """Conditions that fail are final; "TransactionConflict" (an item busy in another
    transaction) is retried with jittered backoff, so contention turns into a real answer."""
    for attempt in range(ATTEMPTS):
        try:
            call("transact_write_items", TransactItems=actions)
            return
        except TransactionConflict as exc:
            codes = {r.get("Code") for r in exc.reasons}
            if "ConditionalCheckFailed" in codes or "TransactionConflict" not in codes:
                raise
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not a secret
