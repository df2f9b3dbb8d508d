"""The site's root, outside any namespace: where each signed-in user starts."""

from django.urls import path

from .views import home

urlpatterns = [path("", home, name="home")]
