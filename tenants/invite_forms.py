from django import forms


class InviteForm(forms.Form):
    email = forms.EmailField(
        max_length=150, help_text="They get a one-time link to set a password."
    )
