"""Every form on every page renders through these two templates (Django's form renderer)."""

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    """`{{ form }}` and `{{ form.x.as_field_group }}` use the project's templates.

    The field template gives the error and help elements the ids Django's widgets name in
    `aria-describedby` (`<auto_id>_error`, `<auto_id>_helptext`), so a screen reader reads
    the error with its field.
    """

    form_template_name = "forms/form.html"
    field_template_name = "forms/field.html"


class LoginForm(AuthenticationForm):
    """Staff sign in with their username, tenant users with the e-mail they were invited with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Username or e-mail"
