"""Domain errors of the store, and the one place ClientError is translated into them."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "ResourceNotFoundException",
        "UnrecognizedClientException",
        "AccessDeniedException",
        "TransactionInProgressException",
        "LimitExceededException",  # the streams API's throttle
    }
)


class StoreError(Exception):
    """Base of every error the storage layer raises."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class Conflict(StoreError):
    """A write's precondition failed. `item` is the current item when DynamoDB returned it."""

    def __init__(self, message: str = "conflict", item: dict[str, Any] | None = None):
        super().__init__(message)
        self.item = item


class TransactionConflict(Conflict):
    """A transaction was cancelled; `reasons` holds one code per action ("None" if it passed).

    Actions are told apart by the names the caller gave them (see transactions.transact),
    never by their position.
    """

    def __init__(self, reasons: list[dict[str, Any]], names: tuple[str, ...] = ()):
        super().__init__("transaction cancelled")
        self.reasons = reasons
        self.names = names

    def reason(self, name: str) -> dict[str, Any]:
        if name not in self.names or len(self.reasons) != len(self.names):
            return {}
        return self.reasons[self.names.index(name)]

    def failed(self, name: str) -> bool:
        return self.reason(name).get("Code") == "ConditionalCheckFailed"

    def old_item(self, name: str) -> dict[str, Any]:
        """The item as it was, for an action sent with ReturnValuesOnConditionCheckFailure."""
        return dict(self.reason(name).get("Item") or {})


class Unavailable(StoreError):
    """The store is unreachable, throttled or not set up; the caller may retry later."""

    @property
    def nothing_written(self) -> bool:
        """Only a refusal before any I/O (e.g. an open circuit) or a final refusal by DynamoDB
        proves that nothing was written. A timeout, a dropped or refused connection or a 5xx
        do not: botocore's retries may hide an earlier attempt whose answer was lost."""
        cause = self.__cause__
        if cause is None:
            return True
        return (
            isinstance(cause, ClientError)
            and cause.response.get("Error", {}).get("Code") in _REFUSED
        )


_REFUSED = frozenset(
    {
        "TransactionCanceledException",
        "ResourceNotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
    }
)


class BadCursor(StoreError):
    pass


class Gone(Unavailable):
    """The table, stream or shard named does not exist (any more): ResourceNotFoundException.
    An Unavailable still, so request paths keep answering 503 for a missing table."""


class IndexMissing(Unavailable):
    """The index named is not there (yet), or DynamoDB is still building it: a reader falls
    back to the layout before it (see `manage.py upgrade_layout`)."""


# How DynamoDB says so: a missing index, and one still being built.
_INDEX_MISSING = ("does not have the specified index", "backfilling global secondary index")


class Trimmed(StoreError):
    """A stream position older than the stream keeps (24 h): its records are lost."""


class ExpiredIterator(StoreError):
    """A shard iterator older than 15 minutes: ask for a new one from the same position."""


_STREAM_ERRORS: dict[str, type[StoreError]] = {
    "TrimmedDataAccessException": Trimmed,
    "ExpiredIteratorException": ExpiredIterator,
    "ResourceNotFoundException": Gone,
}


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        raise _translate(exc) from exc
    except BotoCoreError as exc:  # connection refused, timeouts, no credentials
        raise Unavailable(str(exc)) from exc


def _translate(exc: ClientError) -> StoreError | ClientError:
    response: dict[str, Any] = dict(exc.response)
    error = response.get("Error", {})
    code = error.get("Code", "")
    if code == "ConditionalCheckFailedException":
        return Conflict(error.get("Message", "condition failed"), item=response.get("Item"))
    if code == "TransactionCanceledException":
        reasons: list[dict[str, Any]] = list(response.get("CancellationReasons") or [])
        if any(
            r.get("Code") in ("ThrottlingError", "ProvisionedThroughputExceeded") for r in reasons
        ):
            return Unavailable("store throttled")
        return TransactionConflict(reasons)
    if code == "ValidationException" and any(m in error.get("Message", "") for m in _INDEX_MISSING):
        return IndexMissing(f"{code}: {error.get('Message', '')}")
    if code in _STREAM_ERRORS:
        return _STREAM_ERRORS[code](f"{code}: {error.get('Message', '')}")
    if code in UNAVAILABLE_CODES:
        return Unavailable(f"{code}: {error.get('Message', '')}")
    return exc
