from django import forms

from outpost_admin.webhook_urls import URL_MAX

from .domain import EVENT_NAMES


class EndpointForm(forms.Form):
    url = forms.CharField(label="URL", max_length=URL_MAX, help_text="https only.")
    description = forms.CharField(max_length=500, required=False)
    events = forms.MultipleChoiceField(
        choices=[(e, e) for e in EVENT_NAMES], widget=forms.CheckboxSelectMultiple
    )
    enabled = forms.BooleanField(required=False, initial=True)


class NotifyForm(forms.Form):
    on_failure = forms.BooleanField(
        required=False, label="E-mail us when a dispatch fails or times out"
    )
    streak = forms.IntegerField(
        min_value=0, max_value=100, initial=0, label="…or when this many fail in a row (0: off)"
    )
    cooldown_minutes = forms.IntegerField(
        min_value=1, max_value=10080, initial=60, label="At most one e-mail every (minutes)"
    )


class RecoverForm(forms.Form):
    since = forms.DateTimeField(
        label="Failed since (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )
