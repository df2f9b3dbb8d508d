"""TransactWriteItems: idempotent across retries, retried while it only lost a race, and honest
about an outcome nobody can know."""

import random
import time
import uuid
from typing import Any

from .client import call
from .errors import TransactionConflict, Unavailable

ATTEMPTS = 8

# One action of a transaction and the name a cancellation reports it by.
Action = tuple[str, dict[str, Any]]


class OutcomeUnknown(Unavailable):
    """The transaction was sent but no answer came back: it may or may not have been applied."""


def transact_write(actions: list[dict[str, Any]]) -> None:
    """Conditions that fail are final; "TransactionConflict" (an item busy in another
    transaction) is retried with jittered backoff, so contention turns into a real answer.

    Every attempt carries the same ClientRequestToken: when an attempt's answer is lost and
    botocore (or this loop) sends it again, DynamoDB applies it once and answers success.
    """
    token = str(uuid.uuid4())
    for attempt in range(ATTEMPTS):
        try:
            _send(actions, token)
            return
        except TransactionConflict as exc:
            codes = {r.get("Code") for r in exc.reasons}
            if "ConditionalCheckFailed" in codes or "TransactionConflict" not in codes:
                raise
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not a secret


def _send(actions: list[dict[str, Any]], token: str) -> None:
    try:
        call("transact_write_items", TransactItems=actions, ClientRequestToken=token)
    except Unavailable as exc:
        if exc.nothing_written:
            raise
        raise OutcomeUnknown(f"the transaction's outcome is unknown: {exc}") from exc


def transact(actions: list[Action]) -> None:
    """transact_write of named actions: a cancellation says which failed by name."""
    names = tuple(name for name, _ in actions)
    assert len(set(names)) == len(names), f"action names must be unique: {names}"
    try:
        transact_write([action for _, action in actions])
    except TransactionConflict as exc:
        exc.names = names
        raise
