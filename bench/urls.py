"""The app's URLs plus /bench/bare: a DRF view that returns the JSON of a dispatch's GET answer
(read once from BENCH_BARE_JSON) without authentication or DynamoDB."""

import json
import os
from pathlib import Path
from typing import Any

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from outpost_admin.urls import handler404, handler500

__all__ = ["handler404", "handler500", "urlpatterns"]

_BODY: Any = json.loads(Path(os.environ["BENCH_BARE_JSON"]).read_text())


class BareApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(_BODY)


urlpatterns = [
    path("bench/bare", BareApi.as_view()),
    path("", include("outpost_admin.urls")),
]
