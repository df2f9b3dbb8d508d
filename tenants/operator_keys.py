"""Staff's "Operator keys" page: the keys that act on every tenant, listed apart, and issued
only here, after a warning and the key's name typed a second time."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from outpost_admin.actors import actor_from
from outpost_admin.dynamo import utcnow
from outpost_admin.pages import render_page, staff_required

from . import selectors, services
from .domain import Scope
from .forms import OperatorKeyForm, tenant_filter_id
from .views import show_key_once


@staff_required
@require_http_methods(["GET", "POST"])
def operator_keys(request: HttpRequest) -> HttpResponse:
    """GET lists them with the form; POST issues one (audited as key.create, its scopes
    naming operator) and shows it once, or the form again with its errors."""
    initial = {"tenant": request.GET.get("tenant", "")[:200]}
    data = request.POST if request.method == "POST" else None
    form = OperatorKeyForm(data, initial=initial)
    if request.method == "POST" and form.is_valid():
        tenant_id = tenant_filter_id(form)
        if not form.errors:
            try:
                issued = services.key_create(
                    tenant_id=tenant_id,
                    name=form.cleaned_data["name"],
                    scopes=(Scope.OPERATOR,),
                    expires_at=form.cleaned_data["expires_at"],
                    actor=actor_from(request),
                    by_staff=True,
                )
            except services.ServiceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                return show_key_once(request, tenant_id, issued, title="Operator key created")
    now = utcnow()
    keys = [(k, name, k.state(now)) for k, name in selectors.operator_keys()]
    context = {"form": form, "keys": keys}
    status = 400 if form.errors else 200
    return render_page(request, "tenants/operator_keys.html", context, status=status)
