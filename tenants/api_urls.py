from django.urls import path

from . import apis, budget_apis

# Tenant and key ids are UUIDs: anything else is a 404 before it reaches the store, whose
# key-size limits would otherwise turn a long id into an error.
urlpatterns = [
    path("me", apis.MeApi.as_view(), name="api-me"),
    path("admin/tenants", apis.TenantCollectionApi.as_view(), name="api-admin-tenants"),
    path("admin/tenants/<id:tenant_id>", apis.TenantDetailApi.as_view(), name="api-admin-tenant"),
    path(
        "admin/tenants/<id:tenant_id>/keys", apis.KeyCollectionApi.as_view(), name="api-admin-keys"
    ),
    path(
        "admin/tenants/<id:tenant_id>/budget",
        budget_apis.AdminBudgetApi.as_view(),
        name="api-admin-budget",
    ),
    path(
        "admin/tenants/<id:tenant_id>/keys/<id:key_id>/budget",
        budget_apis.AdminKeyBudgetApi.as_view(),
        name="api-admin-key-budget",
    ),
    path("budget", budget_apis.OwnBudgetApi.as_view(), name="api-budget"),
    path(
        "budget/keys/<id:key_id>",
        budget_apis.OwnKeyBudgetApi.as_view(),
        name="api-key-budget",
    ),
    path(
        "admin/tenants/<id:tenant_id>/keys/<id:key_id>/revoke",
        apis.KeyRevokeApi.as_view(),
        name="api-admin-key-revoke",
    ),
    path(
        "admin/tenants/<id:tenant_id>/keys/<id:key_id>/rotate",
        apis.KeyRotateApi.as_view(),
        name="api-admin-key-rotate",
    ),
]
