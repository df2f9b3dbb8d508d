from django.urls import path

from . import apis

urlpatterns = [
    path("me", apis.MeApi.as_view(), name="api-me"),
    path("admin/tenants", apis.TenantCollectionApi.as_view(), name="api-admin-tenants"),
    path("admin/tenants/<str:tenant_id>", apis.TenantDetailApi.as_view(), name="api-admin-tenant"),
    path(
        "admin/tenants/<str:tenant_id>/keys", apis.KeyCollectionApi.as_view(), name="api-admin-keys"
    ),
    path(
        "admin/tenants/<str:tenant_id>/keys/<str:key_id>/revoke",
        apis.KeyRevokeApi.as_view(),
        name="api-admin-key-revoke",
    ),
    path(
        "admin/tenants/<str:tenant_id>/keys/<str:key_id>/rotate",
        apis.KeyRotateApi.as_view(),
        name="api-admin-key-rotate",
    ),
]
