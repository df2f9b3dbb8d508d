"""The one DynamoDB client: built lazily, explicit timeouts, standard retries, every call counted."""

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings

from .errors import translated

_client: Any = None
_lock = threading.Lock()
_local = threading.local()


def client() -> Any:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = _build()
    return _client


def reset_client() -> None:
    """Forget the client so the next call builds one from the current settings."""
    global _client
    with _lock:
        _client = None


def _build() -> Any:
    config = Config(
        region_name=settings.DYNAMODB_REGION,
        connect_timeout=settings.DYNAMODB_CONNECT_TIMEOUT,
        read_timeout=settings.DYNAMODB_READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": settings.DYNAMODB_MAX_ATTEMPTS},
        max_pool_connections=50,
    )
    kwargs: dict[str, Any] = {}
    if settings.DYNAMODB_ENDPOINT_URL:
        # DynamoDB Local accepts any credentials; don't make a developer configure some.
        kwargs = {
            "endpoint_url": settings.DYNAMODB_ENDPOINT_URL,
            "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        }
    built = boto3.session.Session().client("dynamodb", config=config, **kwargs)
    built.meta.events.register("before-call.dynamodb", _count_call)
    return built


def call(operation: str, **params: Any) -> dict[str, Any]:
    """Run one DynamoDB operation (e.g. "get_item") with errors translated to domain errors."""
    with translated():
        result: dict[str, Any] = getattr(client(), operation)(**params)
        return result


class CallLog:
    def __init__(self) -> None:
        self.operations: list[str] = []

    @property
    def count(self) -> int:
        return len(self.operations)

    def by_operation(self) -> Counter[str]:
        return Counter(self.operations)


def _count_call(model: Any, **_: Any) -> None:
    for log in getattr(_local, "logs", ()):
        log.operations.append(model.name)


@contextmanager
def counting_calls() -> Iterator[CallLog]:
    """Record the DynamoDB operations this thread makes inside the block."""
    log = CallLog()
    logs = getattr(_local, "logs", [])
    _local.logs = [*logs, log]
    try:
        yield log
    finally:
        _local.logs = logs
