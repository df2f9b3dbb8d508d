from django.urls import path

from . import apis

# Endpoint ids are UUIDs, event ids msg_<ULID>: anything else is a 404 before the store.
urlpatterns = [
    path("webhooks", apis.WebhookCollectionApi.as_view(), name="api-webhooks"),
    path(
        "webhooks/notifications", apis.NotificationsApi.as_view(), name="api-webhook-notifications"
    ),
    path(
        "webhooks/callback-secret",
        apis.CallbackSecretApi.as_view(),
        name="api-webhook-callback-secret",
    ),
    path("webhooks/<id:endpoint_id>", apis.WebhookDetailApi.as_view(), name="api-webhook"),
    path(
        "webhooks/<id:endpoint_id>/rotate-secret",
        apis.WebhookRotateApi.as_view(),
        name="api-webhook-rotate",
    ),
    path("webhooks/<id:endpoint_id>/test", apis.WebhookTestApi.as_view(), name="api-webhook-test"),
    path(
        "webhooks/<id:endpoint_id>/recover",
        apis.RecoverApi.as_view(),
        name="api-webhook-recover",
    ),
    path(
        "webhooks/<id:endpoint_id>/deliveries",
        apis.DeliveryListApi.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhooks/<id:endpoint_id>/deliveries/<dispatch:event_id>",
        apis.DeliveryDetailApi.as_view(),
        name="api-webhook-delivery",
    ),
    path(
        "webhooks/<id:endpoint_id>/deliveries/<dispatch:event_id>/resend",
        apis.DeliveryResendApi.as_view(),
        name="api-webhook-resend",
    ),
]
