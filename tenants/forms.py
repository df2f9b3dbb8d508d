from datetime import UTC, datetime
from typing import Any

from django import forms
from django.urls import reverse_lazy

from outpost_admin.validation import one_line

from .domain import Scope, TenantStatus, Tier

TIER_CHOICES = [(t.value, t.value.title()) for t in Tier]
ANY = [("", "Any")]


def tenant_picker_field_required() -> forms.CharField:
    field = tenant_picker_field()
    field.required = True
    field.help_text = "The tenant the key belongs to: start typing its name (or paste its id)"
    return field


class ProvisionForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True, validators=[one_line])
    email = forms.EmailField(max_length=254)
    tier = forms.ChoiceField(choices=TIER_CHOICES, initial=Tier.PRO.value)


class TenantFilterForm(forms.Form):
    search = forms.CharField(
        required=False, max_length=200, strip=True, help_text="name prefix or exact e-mail"
    )
    status = forms.ChoiceField(
        required=False, choices=ANY + [(s.value, s.value) for s in TenantStatus]
    )
    tier = forms.ChoiceField(required=False, choices=ANY + TIER_CHOICES)
    cursor = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)


class TierForm(forms.Form):
    tier = forms.ChoiceField(choices=TIER_CHOICES)


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The tenant's users see it on their home page, with the date.",
    )


def _expires_at_field() -> forms.DateTimeField:
    return forms.DateTimeField(
        required=False,
        label="Expires at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )


class ExpiryMixin:
    cleaned_data: dict

    def clean_expires_at(self) -> datetime | None:
        value = self.cleaned_data.get("expires_at")
        if value is None:
            return None
        value = value.astimezone(UTC)
        if value <= datetime.now(UTC):
            raise forms.ValidationError("The expiry must be in the future.")
        return value


class KeyForm(ExpiryMixin, forms.Form):
    """A tenant's key. The operator scope is not offered here: staff issue it on the
    Operator keys page, with its warning and a typed confirmation."""

    name = forms.CharField(max_length=100, strip=True, validators=[one_line])
    scopes = forms.MultipleChoiceField(
        choices=[(s.value, s.value) for s in Scope if s != Scope.OPERATOR],
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.DISPATCH.value, Scope.STATUS.value, Scope.LIST.value, Scope.CANCEL.value],
        help_text="admin: every scope above, within this tenant. A key that acts on every "
        "tenant (operator) is issued on the Operator keys page.",
    )
    expires_at = _expires_at_field()


class RotateForm(forms.Form):
    grace_hours = forms.IntegerField(
        min_value=0, max_value=720, initial=24, label="Old key keeps working for (hours)"
    )


def tenant_picker_field() -> forms.CharField:
    """A tenant by name, with suggestions from the tenant-name index as one types (or an id)."""
    return forms.CharField(
        required=False,
        max_length=200,
        strip=True,
        help_text="Start typing a name",
        widget=forms.TextInput(
            attrs={
                "list": "tenant-options",
                "autocomplete": "off",
                "hx-get": reverse_lazy("tenants:picker"),
                "hx-trigger": "input changed delay:250ms",
                "hx-target": "#tenant-options",
                # Suggestions are no navigation: the filter form's hx-push-url is inherited
                # otherwise, and a reload would show the bare <option> fragment.
                "hx-push-url": "false",
            }
        ),
    )


def tenant_filter_id(form: forms.Form) -> str:
    """The tenant a valid filter form names (by name or id); a field error when none or several."""
    from . import selectors  # forms load before the storage layer in some management commands

    text = form.cleaned_data.get("tenant", "")
    if not text:
        return ""
    found = selectors.tenant_find(text=text)
    if len(found) == 1:
        return found[0].tenant_id
    if found:
        form.add_error("tenant", "Several tenants have this name: pick one from the list.")
    else:
        form.add_error("tenant", "No tenant has this name or id.")
    return ""


class AuditFilterForm(forms.Form):
    tenant = tenant_picker_field()
    day = forms.DateField(
        required=False, label="Day (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    action = forms.RegexField(
        required=False,
        max_length=64,
        regex=r"^[a-z_.]+$",
        help_text="starts with, e.g. key.",
        error_messages={"invalid": "Letters, dots and underscores only (e.g. key.revoke)."},
    )
    actor = forms.CharField(required=False, max_length=150, strip=True)
    resource = forms.CharField(
        required=False, max_length=200, strip=True, help_text="starts with, e.g. dispatch/"
    )
    q = forms.CharField(
        required=False, max_length=100, strip=True, label="Text", help_text="anywhere, exact case"
    )
    cursor = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)


class OperatorKeyForm(ExpiryMixin, forms.Form):
    """An operator key: its tenant (by name or id), its name, typed a second time to confirm."""

    tenant = tenant_picker_field_required()
    name = forms.CharField(max_length=100, strip=True, validators=[one_line])
    expires_at = _expires_at_field()
    confirm = forms.CharField(
        max_length=100,
        strip=True,
        label="Type the key name to confirm",
        help_text="This key can act on every tenant.",
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        name, confirm = data.get("name"), data.get("confirm")
        if name and confirm is not None and confirm != name:
            self.add_error("confirm", "This is not the key name: type it exactly to confirm.")
        return data


class BudgetForm(forms.Form):
    """A tenant's monthly hard budget and soft threshold, in dollars; blank: none."""

    hard_usd = forms.DecimalField(
        required=False,
        min_value=0,
        max_value=1_000_000_000,
        max_digits=12,
        decimal_places=2,
        label="Hard budget (USD a month)",
        help_text="Creates are refused (429 BUDGET_EXCEEDED) once this month's recorded spend "
        "reaches it. Blank: none.",
    )
    soft_usd = forms.DecimalField(
        required=False,
        min_value=0,
        max_value=1_000_000_000,
        max_digits=12,
        decimal_places=2,
        label="Soft threshold (USD a month)",
        help_text="Crossing it (and 90 % and 100 % of the hard budget) e-mails the tenant's "
        "users once a month and shows them a banner. Blank: none.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        hard, soft = data.get("hard_usd"), data.get("soft_usd")
        if hard is not None and soft is not None and soft > hard:
            self.add_error("soft_usd", "The soft threshold must not be above the hard budget.")
        return data

    def micros(self) -> dict[str, int | None]:
        return {
            name: None if amount is None else int(amount * 1_000_000)
            for name, amount in (
                ("hard", self.cleaned_data.get("hard_usd")),
                ("soft", self.cleaned_data.get("soft_usd")),
            )
        }
