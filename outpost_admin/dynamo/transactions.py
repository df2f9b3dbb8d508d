"""TransactWriteItems: idempotent across retries, retried while it only lost a race, and honest
about an outcome nobody can know."""

import random
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

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
        if _never_sent(exc):
            raise
        raise OutcomeUnknown(f"the transaction's outcome is unknown: {exc}") from exc


def _never_sent(exc: Unavailable) -> bool:
    """Only a refusal before any I/O (e.g. an open circuit) or a final refusal by DynamoDB
    proves that nothing was written. A timeout, a dropped or refused connection or a 5xx do
    not: botocore's retries may hide an earlier attempt whose answer was lost."""
    cause = exc.__cause__
    if cause is None:
        return True
    return (
        isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in _REFUSED
    )


_REFUSED = frozenset(
    {
        "TransactionCanceledException",
        "ResourceNotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
    }
)


def transact(actions: list[Action]) -> None:
    """transact_write of named actions: a cancellation says which failed by name."""
    names = tuple(name for name, _ in actions)
    assert len(set(names)) == len(names), f"action names must be unique: {names}"
    try:
        transact_write([action for _, action in actions])
    except TransactionConflict as exc:
        exc.names = names
        raise
