from django.urls import path

from . import usage_apis

urlpatterns = [
    path("usage", usage_apis.UsageApi.as_view(), name="api-usage"),
    path("admin/usage", usage_apis.AdminUsageApi.as_view(), name="api-admin-usage"),
]
