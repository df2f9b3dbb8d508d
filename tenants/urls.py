from django.urls import path

from . import invites, operator_keys, views

app_name = "tenants"

urlpatterns = [
    path("tenants/", views.tenant_list, name="list"),
    path("tenants/new/", views.tenant_provision, name="provision"),
    path("tenants/picker/", views.tenant_picker, name="picker"),
    path("tenants/<id:tenant_id>/", views.tenant_detail, name="detail"),
    path("tenants/<id:tenant_id>/tier/", views.tenant_tier, name="tier"),
    path("tenants/<id:tenant_id>/budget/", views.tenant_budget, name="budget"),
    path("tenants/<id:tenant_id>/keys/<id:key_id>/budget/", views.tenant_budget, name="key-budget"),
    path(
        "tenants/<id:tenant_id>/suspend/",
        views.tenant_status,
        {"action": "suspend"},
        name="suspend",
    ),
    path(
        "tenants/<id:tenant_id>/reactivate/",
        views.tenant_status,
        {"action": "reactivate"},
        name="reactivate",
    ),
    path("tenants/<id:tenant_id>/keys/new/", views.key_create, name="key-create"),
    path("tenants/<id:tenant_id>/keys/<id:key_id>/revoke/", views.key_revoke, name="key-revoke"),
    path("tenants/<id:tenant_id>/keys/<id:key_id>/rotate/", views.key_rotate, name="key-rotate"),
    path("operator-keys/", operator_keys.operator_keys, name="operator-keys"),
    path("audit/", views.audit_log, name="audit"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
    path(
        "tenants/<id:tenant_id>/users/<int:user_id>/revoke/",
        views.user_revoke,
        name="user-revoke",
    ),
    path("tenants/<id:tenant_id>/users/invite/", invites.invite_create, name="invite"),
    path("accounts/invite/<str:uidb64>/<str:token>/", invites.invite_accept, name="invite-accept"),
]
