from csp.decorators import csp_update
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from dispatches import apis as dispatch_apis
from outpost_admin import health
from outpost_admin.api.envelope import meta
from outpost_admin.converters import DispatchIdConverter, IdConverter
from outpost_admin.forms import LoginForm
from tenants.memberships import member_tenant_id

register_converter(IdConverter, "id")
register_converter(DispatchIdConverter, "dispatch")


def home(request: HttpRequest) -> HttpResponse:
    """Staff start at the tenants list; a tenant user at their tenant's home."""
    if not request.user.is_authenticated:
        return redirect("login")
    if not request.user.is_staff and member_tenant_id(request.user):
        return redirect("dispatches:home")
    return redirect("tenants:list")


urlpatterns = [
    path("", home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health", health.overall, name="health"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/fleet", health.fleet, name="health-fleet"),
    path("api/v1/", include("tenants.api_urls")),
    path("api/v1/", include("dispatches.api_urls")),
    path("api/v1/", include("fleet.api_urls")),
    path("dispatch", dispatch_apis.LegacyCreateApi.as_view(), name="legacy-dispatch-create"),
    path(
        "dispatch/<dispatch:dispatch_id>",
        dispatch_apis.LegacyDispatchApi.as_view(),
        name="legacy-dispatch",
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        # An HTML page: OPTIONS would reach its template renderer without a template (a 500).
        # The split view serves its start-up script as a file (the CSP allows no inline
        # script); Swagger UI's page keeps one inline <style> block.
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(
                url_name="schema", http_method_names=["get", "head"]
            )
        ),
        name="api-docs",
    ),
    path("", include("tenants.urls")),
    path("", include("dispatches.urls")),
    path("", include("fleet.urls")),
]


def _is_api(request: HttpRequest) -> bool:
    # "/dispatch" and "/dispatch/<id>" are API routes; "/dispatches/..." are pages.
    url = request.path
    return url.startswith(("/api/", "/dispatch/", "/health")) or url == "/dispatch"


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        error = {"code": "NOT_FOUND", "message": "Not found.", "details": {}}
        return JsonResponse({"success": False, "error": error, "meta": meta(request)}, status=404)
    return render(request, "404.html", status=404)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        error = {"code": "INTERNAL_ERROR", "message": "Something went wrong.", "details": {}}
        return JsonResponse({"success": False, "error": error, "meta": meta(request)}, status=500)
    return render(request, "500.html", status=500)
