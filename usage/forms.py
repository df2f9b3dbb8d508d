"""Filters of the usage page, its CSV and (through the same rules) the usage APIs."""

from datetime import date, timedelta
from typing import Any

from django import forms

from outpost_admin.agents import AGENTS
from outpost_admin.dynamo import utcnow
from tenants.forms import tenant_picker_field

from .figures import MAX_DAYS

RANGES = [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("custom", "Custom")]


def date_range(days: str, since: date | None, until: date | None) -> tuple[date, date]:
    """The first and last day shown; raises ValueError naming what is wrong."""
    today = utcnow().date()
    if days != "custom":
        return today - timedelta(days=int(days or 30) - 1), today
    if not since or not until:
        raise ValueError("A custom range needs a first and a last day.")
    if since > until:
        raise ValueError("The first day must not be after the last day.")
    if (until - since).days + 1 > MAX_DAYS:
        raise ValueError(f"A range is at most {MAX_DAYS} days.")
    return since, until


class UsageFilterForm(forms.Form):
    # data-custom-range: outpost.js turns From and To off unless the range is Custom.
    range = forms.ChoiceField(
        choices=RANGES,
        required=False,
        initial="30",
        widget=forms.Select(attrs={"data-custom-range": ""}),
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    tenant = tenant_picker_field()
    agent = forms.ChoiceField(
        choices=[("", "Every agent"), *((a, a) for a in AGENTS)], required=False
    )
    key = forms.ChoiceField(choices=[("", "Every key")], required=False, label="API key")

    def __init__(self, data: Any = None, *, keys: list[tuple[str, str]], staff: bool):
        if data is not None and not data.get("range"):
            # What the charts show when no range is named, so the box says it too (and Show
            # keeps it): 30 days, or Custom when a link names its days.
            data = data.copy()
            data["range"] = "custom" if data.get("since") or data.get("until") else "30"
        super().__init__(data)
        key = self.fields["key"]
        assert isinstance(key, forms.ChoiceField)
        key.choices = [("", "Every key"), *keys]
        if not staff:
            del self.fields["tenant"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("range") != "custom" and (data.get("since") or data.get("until")):
            self.add_error(
                "range", "From and To apply to a Custom range: choose it, or clear them."
            )
        else:
            try:
                data["first"], data["last"] = date_range(
                    data.get("range") or "30", data.get("since"), data.get("until")
                )
            except ValueError as exc:
                self.add_error("since", str(exc))
        if data.get("key") and "tenant" in self.fields and not data.get("tenant"):
            self.add_error("key", "Choose a tenant to filter by one of its keys.")
        return data
