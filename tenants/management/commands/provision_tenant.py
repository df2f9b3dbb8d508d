from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from outpost_admin.audit import Actor
from outpost_admin.dynamo import StoreError
from tenants import services
from tenants.domain import Tier


class Command(BaseCommand):
    help = "Provision a tenant and its first API key; prints OUTPOST_TENANT_ID and OUTPOST_API_KEY."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("email")
        parser.add_argument(
            "tier", nargs="?", default=Tier.PRO.value, choices=[t.value for t in Tier]
        )
        parser.add_argument(
            "--operator",
            action="store_true",
            help="give the first key the operator scope (the admin API over every tenant)",
        )

    def handle(
        self, *args: Any, name: str, email: str, tier: str, operator: bool, **options: Any
    ) -> None:
        if not name.strip():
            raise CommandError("name: must not be empty")
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"email: {email!r} is not a valid email address") from exc
        try:
            tenant, issued = services.tenant_provision(
                name=name,
                email=email,
                tier=Tier(tier),
                actor=Actor(name="cli:provision_tenant"),
                operator=operator,
            )
        except services.ServiceError as exc:
            raise CommandError(f"{exc.field or 'error'}: {exc}") from exc
        except StoreError as exc:
            raise CommandError(f"the data store is unavailable: {exc}") from exc
        self.stdout.write(f"OUTPOST_TENANT_ID={tenant.tenant_id}")
        self.stdout.write(f"OUTPOST_API_KEY={issued.raw}")
