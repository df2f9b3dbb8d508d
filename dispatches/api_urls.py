from django.urls import path

from . import apis

urlpatterns = [
    path("dispatches", apis.DispatchCollectionApi.as_view(), name="api-dispatches"),
    path(
        "dispatches/<dispatch:dispatch_id>", apis.DispatchDetailApi.as_view(), name="api-dispatch"
    ),
    path(
        "dispatches/<dispatch:dispatch_id>/cancel",
        apis.DispatchCancelApi.as_view(),
        name="api-dispatch-cancel",
    ),
]
