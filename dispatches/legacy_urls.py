"""The control plane's own routes, outside any namespace: `POST /dispatch`, `GET /dispatch/<id>`."""

from django.urls import path

from . import apis

urlpatterns = [
    path("dispatch", apis.LegacyCreateApi.as_view(), name="legacy-dispatch-create"),
    path(
        "dispatch/<dispatch:dispatch_id>", apis.LegacyDispatchApi.as_view(), name="legacy-dispatch"
    ),
]
