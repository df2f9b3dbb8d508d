"""The health routes, outside any namespace (load balancers and the control plane call them)."""

from django.urls import path

from . import health

urlpatterns = [
    path("health", health.overall, name="health"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/fleet", health.fleet, name="health-fleet"),
]
