from django.apps import AppConfig


class OutpostAdminConfig(AppConfig):
    name = "outpost_admin"

    def ready(self) -> None:
        from outpost_admin.api import schema  # noqa: F401  registers the OpenAPI extensions
