from django.urls import path

from . import bulk_views, saved_views, views

app_name = "dispatches"

urlpatterns = [
    path("home/", views.tenant_home, name="home"),
    path("dispatches/", views.dispatch_list, name="list"),
    path("dispatches/live/", views.dispatch_live_rows, name="live-rows"),  # before <dispatch>
    path("dispatches/cancel/", views.dispatch_bulk_cancel, name="bulk-cancel"),
    path("dispatches/bulk/<str:action>/", bulk_views.bulk_confirm, name="bulk"),
    path("dispatches/bulk/<id:tenant_id>/<str:job_id>/", bulk_views.bulk_job, name="bulk-job"),
    path("dispatches/views/", saved_views.saved_view_create, name="view-create"),
    path("dispatches/views/<int:view_id>/", saved_views.saved_view_open, name="view"),
    path(
        "dispatches/views/<int:view_id>/delete/",
        saved_views.saved_view_delete,
        name="view-delete",
    ),
    path("dispatches/<dispatch:dispatch_id>/", views.dispatch_detail, name="detail"),
    path("dispatches/<dispatch:dispatch_id>/live/", views.dispatch_live, name="live"),
    path("dispatches/<dispatch:dispatch_id>/log/", views.dispatch_log, name="log"),
    path(
        "dispatches/<dispatch:dispatch_id>/log.txt",
        views.dispatch_log_download,
        name="log-download",
    ),
    path("dispatches/<dispatch:dispatch_id>/rerun/", views.dispatch_rerun, name="rerun"),
    path("dispatches/<dispatch:dispatch_id>/cancel/", views.dispatch_cancel, name="cancel"),
    path("tenants/<id:tenant_id>/dispatches/", views.tenant_dispatches, name="tenant"),
]
