"""The storage adapter core. Only this package and */storage.py import boto3."""

from dataclasses import dataclass
from typing import Generic, TypeVar

from .client import call, client, counting_calls, reset_client
from .codec import from_item, iso, parse_iso, to_item, utcnow, values
from .cursors import decode_cursor, encode_cursor
from .errors import (
    AlreadyExists,
    BadCursor,
    Conflict,
    IndexMissing,
    NotFound,
    StoreError,
    TransactionConflict,
    Unavailable,
)
from .transactions import Action, OutcomeUnknown, transact, transact_write

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursor: str | None = None


__all__ = [
    "Action",
    "AlreadyExists",
    "BadCursor",
    "Conflict",
    "IndexMissing",
    "NotFound",
    "OutcomeUnknown",
    "Page",
    "StoreError",
    "TransactionConflict",
    "Unavailable",
    "call",
    "client",
    "counting_calls",
    "decode_cursor",
    "encode_cursor",
    "from_item",
    "iso",
    "parse_iso",
    "reset_client",
    "to_item",
    "transact",
    "transact_write",
    "utcnow",
    "values",
]
