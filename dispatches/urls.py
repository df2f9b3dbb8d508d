from django.urls import path

from . import views

app_name = "dispatches"

urlpatterns = [
    path("home/", views.tenant_home, name="home"),
    path("dispatches/", views.dispatch_list, name="list"),
    path("dispatches/<dispatch:dispatch_id>/", views.dispatch_detail, name="detail"),
    path("dispatches/<dispatch:dispatch_id>/live/", views.dispatch_live, name="live"),
    path("dispatches/<dispatch:dispatch_id>/log/", views.dispatch_log, name="log"),
    path(
        "dispatches/<dispatch:dispatch_id>/log.txt",
        views.dispatch_log_download,
        name="log-download",
    ),
    path("dispatches/<dispatch:dispatch_id>/row/", views.dispatch_row, name="row"),
    path("dispatches/<dispatch:dispatch_id>/cancel/", views.dispatch_cancel, name="cancel"),
    path("tenants/<id:tenant_id>/dispatches/", views.tenant_dispatches, name="tenant"),
]
