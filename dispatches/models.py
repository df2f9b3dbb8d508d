"""Saved views of the history: a user's preferences, kept in Django's database beside the
accounts (the history page reads them without a DynamoDB call)."""

from django.conf import settings
from django.db import models


class SavedView(models.Model):
    """A named set of history filters (a query string). Shared: the owner's team sees it (a
    tenant user's: that tenant's users; staff's: every staff user, a global view)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    tenant_id = models.CharField(max_length=36, blank=True, db_index=True)  # "": staff's
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=2000)
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="one_view_per_owner_and_name")
        ]

    def __str__(self) -> str:
        return self.name
