from django.urls import path

from . import usage_views

app_name = "fleet"

urlpatterns = [
    path("usage/", usage_views.usage_page, name="usage"),
    path("usage/export.csv", usage_views.usage_export, name="usage-export"),
]
