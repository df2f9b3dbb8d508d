from django.urls import path

from . import views

app_name = "usage"

urlpatterns = [
    path("usage/", views.usage_page, name="page"),
    path("usage/export.csv", views.usage_export, name="export"),
    path("usage/today/", views.usage_today, name="today"),
    path("usage/keys/<id:key_id>/", views.key_page, name="key"),
]
