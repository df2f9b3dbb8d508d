"""The fleet page (staff): workers, the control plane's tasks, agents; recover a dead worker."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from outpost_admin.actors import actor_from
from outpost_admin.dynamo import NotFound, utcnow
from outpost_admin.pages import no_store, render_page, staff_required

from . import recovery, selectors

REFRESH_SECONDS = 5


@staff_required
def fleet_page(request: HttpRequest) -> HttpResponse:
    """The whole page, or (htmx, every few seconds) its board: one request per refresh."""
    context = {"board": selectors.fleet_board(now=utcnow()), "refresh": REFRESH_SECONDS}
    return no_store(render_page(request, "fleet/fleet_page.html", context, partial="board"))


@staff_required
@require_http_methods(["GET", "POST"])
def worker_recover(request: HttpRequest, worker_id: str) -> HttpResponse:
    """GET asks for confirmation; POST recovers. A live worker answers 409."""
    error = ""
    if request.method == "POST":
        try:
            failed = recovery.worker_recover(worker_id=worker_id, actor=actor_from(request))
        except NotFound as exc:
            raise Http404 from exc
        except recovery.WorkerAlive as exc:
            error = str(exc)
        else:
            messages.success(
                request, f"Recovered worker {worker_id}: {len(failed)} dispatch(es) failed."
            )
            return redirect("fleet:page")
    context = {"worker_id": worker_id, "error": error}
    return render_page(request, "fleet/worker_recover.html", context, status=409 if error else 200)
