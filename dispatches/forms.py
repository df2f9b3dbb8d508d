from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms

from tenants.forms import tenant_picker_field

from .domain import AGENTS, API_STATUSES, DispatchStatus
from .selectors import MAX_RANGE_DAYS

ANY = [("", "Any")]


def _datetime_field(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        required=False,
        label=label,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )


class DispatchFilterForm(forms.Form):
    """History filters, read from the query string so a filtered view is a link."""

    status = forms.ChoiceField(required=False, choices=ANY + [(s, s) for s in API_STATUSES])
    agent = forms.ChoiceField(required=False, choices=ANY + [(a, a) for a in AGENTS])
    repo = forms.RegexField(
        required=False, max_length=200, regex=r"^[\w.-]+/[\w.-]+$", help_text="owner/name"
    )
    since = _datetime_field("From (UTC)")
    until = _datetime_field("To (UTC)")
    cursor = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)

    def clean_status(self) -> DispatchStatus | None:
        value = self.cleaned_data.get("status")
        return DispatchStatus.from_api(value) if value else None

    def clean_since(self) -> datetime | None:
        return _utc(self.cleaned_data.get("since"))

    def clean_until(self) -> datetime | None:
        return _utc(self.cleaned_data.get("until"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end of the range is before its start.")
        return data


class StaffDispatchFilterForm(DispatchFilterForm):
    """Staff see every tenant: one tenant's history, or every tenant's for a day or a range."""

    tenant = tenant_picker_field()
    day = forms.DateField(
        required=False, label="Day (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    field_order = ["tenant", "day", "status", "agent", "repo", "since", "until"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if data.get("tenant") or not (since or until):
            return data
        if data.get("day"):
            self.add_error("day", "Pick a day or a time range, not both.")
        elif not since:
            self.add_error("since", "Without a tenant, a time range needs its start.")
        elif (until or datetime.now(UTC)) - since > timedelta(days=MAX_RANGE_DAYS):
            self.add_error(
                "since", f"Without a tenant, a range spans {MAX_RANGE_DAYS} days at most."
            )
        return data


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value else None
