"""The ECS and CloudWatch Logs clients of the ECS executor: built lazily, explicit timeouts.
They live here, beside the DynamoDB client, so that boto3 stays inside the storage layer.

Endpoints follow boto3's own settings: AWS_ENDPOINT_URL_ECS and AWS_ENDPOINT_URL_CLOUDWATCH_LOGS
(or AWS_ENDPOINT_URL for both) point them elsewhere; credentials come from the default chain.
Errors leave this module as AwsError, so no other module needs botocore.
"""

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

_clients: dict[str, Any] = {}
_lock = threading.Lock()


class AwsError(Exception):
    """A failed AWS call: code is the service's error code, or "Unreachable"."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}" if message else code)
        self.code, self.message = code, message


def _config() -> Config:
    return Config(
        region_name=settings.DYNAMODB_REGION,
        connect_timeout=settings.AWS_CONNECT_TIMEOUT,
        read_timeout=settings.AWS_READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": 3},
    )


def _client(service: str) -> Any:
    with _lock:
        if service not in _clients:
            session = boto3.session.Session()
            if service == "ecs":  # one literal per call: boto3's typed overloads need it
                _clients[service] = session.client("ecs", config=_config())
            else:
                _clients[service] = session.client("logs", config=_config())
        return _clients[service]


def ecs() -> Any:
    return _client("ecs")


def logs() -> Any:
    return _client("logs")


def reset_clients() -> None:
    """Forget the clients so the next call builds them from the current settings."""
    with _lock:
        _clients.clear()


def call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    """Run one operation (e.g. call(ecs(), "run_task", ...)) with errors as AwsError."""
    try:
        result: dict[str, Any] = getattr(client, operation)(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AwsError(error.get("Code", "ClientError"), error.get("Message", "")) from exc
    except BotoCoreError as exc:
        raise AwsError("Unreachable", str(exc)) from exc
    return result
