"""Django's own database holds accounts and what belongs to them (memberships here, saved
views in `dispatches.models`): a tenant user is a user with a membership row."""

from django.conf import settings
from django.db import models


class TenantMembership(models.Model):
    """Names the tenant a (non-staff) user belongs to; the tenant itself lives in DynamoDB."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_membership"
    )
    tenant_id = models.CharField(max_length=36, db_index=True)
    # The tenant's name when the user was invited: the invite's accept page names the tenant
    # without reading DynamoDB (the page reads only Django's database).
    tenant_name = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant_id}"
