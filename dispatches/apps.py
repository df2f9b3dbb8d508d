from django.apps import AppConfig


class DispatchesConfig(AppConfig):
    name = "dispatches"

    def ready(self) -> None:
        from . import agents  # noqa: F401 - registers the check of OUTPOST_AGENT_COMMANDS
