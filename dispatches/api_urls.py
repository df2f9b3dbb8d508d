from django.urls import path

from . import apis, rerun_api

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
    path(
        "dispatches/<dispatch:dispatch_id>/rerun",
        rerun_api.DispatchRerunApi.as_view(),
        name="api-dispatch-rerun",
    ),
]
