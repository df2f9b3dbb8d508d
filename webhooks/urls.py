from django.urls import path

from . import views

app_name = "webhooks"

_ENDPOINT = "tenants/<id:tenant_id>/webhooks/<id:endpoint_id>"
urlpatterns = [
    path("webhooks/", views.webhooks_home, name="home"),
    path("tenants/<id:tenant_id>/webhooks/", views.endpoint_list, name="list"),
    path("tenants/<id:tenant_id>/webhooks/new/", views.endpoint_create, name="create"),
    path("tenants/<id:tenant_id>/webhooks/notifications/", views.notify_update, name="notify"),
    path(
        "tenants/<id:tenant_id>/webhooks/callback-secret/",
        views.callback_secret_rotate,
        name="callback-secret",
    ),
    path(f"{_ENDPOINT}/", views.endpoint_detail, name="detail"),
    path(f"{_ENDPOINT}/test/", views.endpoint_test, name="test"),
    path(f"{_ENDPOINT}/rotate/", views.endpoint_action, {"action": "rotate"}, name="rotate"),
    path(f"{_ENDPOINT}/delete/", views.endpoint_action, {"action": "delete"}, name="delete"),
    path(f"{_ENDPOINT}/recover/", views.endpoint_action, {"action": "recover"}, name="recover"),
    path(
        f"{_ENDPOINT}/deliveries/<dispatch:event_id>/",
        views.delivery_detail,
        name="delivery",
    ),
    path(
        f"{_ENDPOINT}/deliveries/<dispatch:event_id>/resend/",
        views.delivery_resend,
        name="resend",
    ),
]
