from csp.decorators import csp_update
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from outpost_admin.api.envelope import meta
from outpost_admin.converters import DispatchIdConverter, IdConverter
from outpost_admin.forms import LoginForm

register_converter(IdConverter, "id")
register_converter(DispatchIdConverter, "dispatch")


urlpatterns = [
    path("", include("tenants.home_urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("fleet.health_urls")),
    path("api/v1/", include("tenants.api_urls")),
    path("api/v1/", include("dispatches.api_urls")),
    path("api/v1/", include("usage.api_urls")),
    path("api/v1/", include("webhooks.api_urls")),
    path("", include("dispatches.legacy_urls")),
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
    path("", include("usage.urls")),
    path("", include("webhooks.urls")),
    path("", include("billing.urls")),
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
