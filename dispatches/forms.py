from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms

from tenants.forms import tenant_picker_field

from .domain import AGENTS, API_STATUSES, DispatchStatus
from .selectors import MAX_RANGE_DAYS

ANY = [("", "Any")]
# Period presets: a rolling range, its start computed at each request (so a saved view or a
# shared link of "the last 24 hours" stays the last 24 hours).
PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
PERIODS["30d"] = timedelta(days=30)
PERIOD_LABELS = {"1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d"}


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
    period = forms.ChoiceField(
        required=False,
        label="Last",
        choices=[("", "Any time")] + [(p, f"Last {label}") for p, label in PERIOD_LABELS.items()],
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
        if period := data.get("period"):
            if data.get("since") or data.get("until"):
                self.add_error("period", "Pick a period or a From/To range, not both.")
            else:
                data["since"] = datetime.now(UTC) - PERIODS[period]
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
    field_order = ["tenant", "day", "status", "agent", "repo", "period", "since", "until"]

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


class SavedViewForm(forms.Form):
    """Name the history's current filters as a view; shared: the team sees it too."""

    name = forms.CharField(max_length=80, label="View name")
    shared = forms.BooleanField(required=False, label="Share with the team")
    query = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)
