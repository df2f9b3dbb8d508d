from django.urls import path

from . import apis

urlpatterns = [
    path("usage", apis.UsageApi.as_view(), name="api-usage"),
    path("admin/usage", apis.AdminUsageApi.as_view(), name="api-admin-usage"),
]
