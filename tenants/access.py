"""Who may see which tenant's pages: staff see every tenant, a tenant user their own."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

from .memberships import member_tenant_id


def portal_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Staff and tenant users pass; anonymous users go to the login page; anyone else 404s."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff and member_tenant_id(request.user) is None:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def viewer_tenant_id(request: HttpRequest) -> str | None:
    """The one tenant this user may see, or None for staff, who see every tenant."""
    if request.user.is_staff:
        return None
    tenant_id = member_tenant_id(request.user)
    if tenant_id is None:
        raise Http404
    return tenant_id
