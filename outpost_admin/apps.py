from django.apps import AppConfig


class OutpostAdminConfig(AppConfig):
    name = "outpost_admin"
