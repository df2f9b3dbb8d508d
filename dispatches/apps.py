from django.apps import AppConfig


class DispatchesConfig(AppConfig):
    name = "dispatches"
