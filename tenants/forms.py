from datetime import UTC, datetime

from django import forms

from .domain import Scope, TenantStatus, Tier

TIER_CHOICES = [(t.value, t.value.title()) for t in Tier]
ANY = [("", "Any")]


class ProvisionForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)
    email = forms.EmailField(max_length=254)
    tier = forms.ChoiceField(choices=TIER_CHOICES, initial=Tier.PRO.value)


class TenantFilterForm(forms.Form):
    search = forms.CharField(required=False, max_length=200, strip=True)
    status = forms.ChoiceField(
        required=False, choices=ANY + [(s.value, s.value) for s in TenantStatus]
    )
    tier = forms.ChoiceField(required=False, choices=ANY + TIER_CHOICES)
    cursor = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)


class TierForm(forms.Form):
    tier = forms.ChoiceField(choices=TIER_CHOICES)


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    scopes = forms.MultipleChoiceField(
        choices=[(s.value, s.value) for s in Scope],
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.DISPATCH.value, Scope.STATUS.value, Scope.LIST.value, Scope.CANCEL.value],
        help_text="admin gives the key the whole admin API, over every tenant: operators only.",
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def clean_expires_at(self) -> datetime | None:
        value = self.cleaned_data.get("expires_at")
        if value is None:
            return None
        value = value.astimezone(UTC)
        if value <= datetime.now(UTC):
            raise forms.ValidationError("The expiry must be in the future.")
        return value


class RotateForm(forms.Form):
    grace_hours = forms.IntegerField(
        min_value=0, max_value=720, initial=24, label="Old key keeps working for (hours)"
    )


class AuditFilterForm(forms.Form):
    tenant = forms.UUIDField(required=False, label="Tenant id")
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    action = forms.RegexField(
        required=False, max_length=64, regex=r"^[a-z_.]+$", help_text="e.g. key.revoke"
    )
    cursor = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
