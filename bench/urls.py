"""The app's URLs plus two bare DRF views without authentication, returning the JSON of a
dispatch's GET answer (read once from BENCH_BARE_JSON):

- /bench/bare: no DynamoDB at all;
- /bench/bare-calls: first the very DynamoDB calls that GET makes (BENCH_BARE_CALLS, operation
  and parameters as sent), through the same boto3 client, answers unread.
"""

import json
import os
from pathlib import Path
from typing import Any

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.dynamo import client
from outpost_admin.urls import handler404, handler500

__all__ = ["handler404", "handler500", "urlpatterns"]

_BODY: Any = json.loads(Path(os.environ["BENCH_BARE_JSON"]).read_text())
_CALLS: list[tuple[str, dict[str, Any]]] = json.loads(
    Path(os.environ["BENCH_BARE_CALLS"]).read_text()
)


class BareApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(_BODY)


class BareCallsApi(BareApi):
    def get(self, request: Request) -> Response:
        for operation, params in _CALLS:
            getattr(client(), operation)(**params)
        return Response(_BODY)


urlpatterns = [
    path("bench/bare", BareApi.as_view()),
    path("bench/bare-calls", BareCallsApi.as_view()),
    path("", include("outpost_admin.urls")),
]
