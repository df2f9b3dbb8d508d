import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms

from tenants.forms import tenant_picker_field

from .domain import (
    AGENTS,
    API_STATUSES,
    TAG_NAME_MAX,
    TAG_VALUE_MAX,
    TASK_MAX,
    TASK_MIN,
    TIMEOUT_MAX,
    TIMEOUT_MIN,
    Dispatch,
    DispatchStatus,
    RowFilters,
    tag_rules,
)
from .lifecycle import RerunEdits
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
    tag = forms.CharField(
        required=False, max_length=TAG_NAME_MAX + 1 + TAG_VALUE_MAX, help_text="name or name=value"
    )
    key = forms.CharField(required=False, max_length=200, help_text="name or id")
    since = _datetime_field("From (UTC)")
    until = _datetime_field("To (UTC)")
    sort = forms.ChoiceField(
        required=False,
        choices=[("", "Newest first"), ("oldest", "Oldest first"), ("duration", "Longest first")],
        help_text="Longest: within the page",
    )
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

    def clean_tag(self) -> str:
        text: str = self.cleaned_data.get("tag", "")
        name = text.partition("=")[0].strip()
        if text:
            try:
                tag_rules({name: ""})
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return text

    def row_filters(self) -> RowFilters:
        """Tag, key and order, as user-dispatches-index applies them."""
        data = self.cleaned_data
        name, has_value, value = data.get("tag", "").partition("=")
        key = data.get("key", "").strip()
        return RowFilters(
            tag_name=name.strip(),
            tag_value=value.strip() if has_value else None,
            key_id=key if _is_uuid(key) else "",
            key_name="" if _is_uuid(key) else key,
            oldest_first=data.get("sort") == "oldest",
        )


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


class StaffDispatchFilterForm(DispatchFilterForm):
    """Staff see every tenant: one tenant's history, or every tenant's for a day or a range."""

    tenant = tenant_picker_field()
    day = forms.DateField(
        required=False, label="Day (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    field_order = [
        "tenant",
        "day",
        "status",
        "agent",
        "repo",
        "tag",
        "key",
        "period",
        "since",
        "until",
    ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("tenant"):
            for name in ("tag", "key"):
                if data.get(name):
                    self.add_error(
                        name, "Pick a tenant first: every tenant's index holds no tags nor keys."
                    )
            if data.get("sort") == "oldest":
                self.add_error("sort", "Pick a tenant first to read oldest first.")
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


class RerunForm(forms.Form):
    """ "Run again": the original request, pre-filled, with what a person may change. Tags are
    one a line, `name=value` (or just `name`), checked by the API's own rules."""

    task = forms.CharField(
        min_length=TASK_MIN,
        max_length=TASK_MAX,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    model_id = forms.ChoiceField(label="Model")
    timeout_seconds = forms.IntegerField(
        label="Timeout (seconds)", min_value=TIMEOUT_MIN, max_value=TIMEOUT_MAX
    )
    tags = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One a line: name=value, or a name alone.",
    )
    token = forms.RegexField(
        regex=r"^[A-Za-z0-9_-]{16,64}$",
        widget=forms.HiddenInput,
        error_messages={"invalid": "This form is damaged: reload the page."},
    )

    def __init__(self, *args: Any, original: Dispatch, timeout_cap: int | None = None, **kw: Any):
        kw.setdefault("initial", {})
        kw["initial"] = {
            "task": original.task,
            "model_id": original.model_id,
            "timeout_seconds": original.timeout_seconds,
            "tags": tags_text(original.tags),
            **kw["initial"],
        }
        super().__init__(*args, **kw)
        self.original, self.timeout_cap = original, timeout_cap
        agent = AGENTS.get(original.agent)
        models = list(agent.models) if agent else []
        if original.model_id not in models:  # e.g. the control plane's: it may run again
            models.insert(0, original.model_id)
        model_field = self.fields["model_id"]
        assert isinstance(model_field, forms.ChoiceField)
        model_field.choices = [(m, m) for m in models]

    def clean_task(self) -> str:
        task = self.cleaned_data["task"].replace("\r\n", "\n")  # browsers send CRLF
        return self.original.task if task == self.original.task.replace("\r\n", "\n") else task

    def clean_timeout_seconds(self) -> int:
        timeout: int = self.cleaned_data["timeout_seconds"]
        if self.timeout_cap is not None and timeout > self.timeout_cap:
            raise forms.ValidationError(f"At most {self.timeout_cap} seconds on the tenant's tier.")
        return timeout

    def clean_tags(self) -> dict[str, str]:
        text = self.cleaned_data["tags"].replace("\r\n", "\n")
        if text.strip() == tags_text(self.original.tags).strip():
            return dict(self.original.tags)  # unchanged, whatever its names hold
        tags: dict[str, str] = {}
        for line in text.split("\n"):
            if line.strip():
                name, _, value = line.partition("=")
                tags[name.strip()] = value.strip()
        try:
            return tag_rules(tags)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def edits(self) -> RerunEdits:
        data = self.cleaned_data
        return RerunEdits(
            task=data["task"],
            model_id=data["model_id"],
            timeout_seconds=data["timeout_seconds"],
            tags=data["tags"],
        )


def tags_text(tags: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" if v else k for k, v in sorted(tags.items()))
