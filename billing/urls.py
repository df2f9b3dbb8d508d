from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("billing/stripe/webhook", views.stripe_webhook, name="webhook"),
    path("billing/", views.my_billing, name="mine"),
    path("billing/tenants/<id:tenant_id>/", views.tenant_billing, name="tenant"),
]
