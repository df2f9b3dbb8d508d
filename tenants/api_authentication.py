"""DRF authentication: an API key (X-API-Key or Bearer), or a Django session with CSRF."""

from typing import Any

from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from outpost_admin.actors import client_ip
from tenants.authentication import KeyRefused, Principal, TooManyFailures, authenticate
from tenants.domain import Scope


class ApiKeyUser:
    """The request.user of a key-authenticated request."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_anonymous = False

    def __init__(self, principal: Principal):
        self.principal = principal
        self.username = f"key:{principal.key.key_prefix or principal.key.api_key_id}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, Principal] | None:
        raw = request.headers.get("X-API-Key")
        if raw is None:
            parts = request.headers.get("Authorization", "").split()
            if not parts or parts[0].lower() != self.keyword.lower():
                return None
            if len(parts) != 2:
                raise exceptions.AuthenticationFailed(
                    "The Authorization header must be 'Bearer <key>'."
                )
            raw = parts[1]
        try:
            principal = authenticate(raw.strip(), address=client_ip(request))
        except KeyRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        except TooManyFailures as exc:
            raise exceptions.Throttled(wait=exc.wait, detail=str(exc)) from exc
        return ApiKeyUser(principal), principal

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """A logged-in Django user; CSRF is enforced as for any session-authenticated write."""


def principal_of(request: Request) -> Principal | None:
    return request.auth if isinstance(request.auth, Principal) else None


class HasScope(permissions.BasePermission):
    scope: Scope = Scope.ADMIN
    message = "The API key lacks the required scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = principal_of(request)
        return principal is not None and principal.allows(self.scope)


def scope_permission(scope: Scope) -> type[HasScope]:
    return type(
        f"HasScope_{scope}",
        (HasScope,),
        {"scope": scope, "message": f"The API key lacks the '{scope}' scope."},
    )


class IsStaffOrOperatorKey(permissions.BasePermission):
    """Acting on other tenants: a staff session, or a key with the operator scope (which only
    staff grant). `admin` is no such key: it means every scope within its own tenant."""

    message = "Staff login or an API key with the 'operator' scope is required."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = principal_of(request)
        if principal is not None:
            return principal.allows(Scope.OPERATOR)
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
