"""Reads for dispatches and their logs. Every function is keyword-only.

The list reads are storage's own functions (one Query a page, nothing to add), named here
so views and APIs keep to the one path: view -> selector -> storage.
"""

from . import storage
from .storage import dispatch_list, dispatch_list_day

__all__ = ["dispatch_list", "dispatch_list_day", "log_tail_text"]


def log_tail_text(*, dispatch_id: str, chunks: int = 20) -> str:
    return "".join(chunk.text for chunk in storage.log_tail(dispatch_id, chunks=chunks))
