from django.urls import path, re_path

from . import views

app_name = "fleet"

urlpatterns = [
    path("fleet/", views.fleet_page, name="page"),
    re_path(
        r"^fleet/workers/(?P<worker_id>[A-Za-z0-9_.-]{1,200})/recover/$",
        views.worker_recover,
        name="worker-recover",
    ),
]
