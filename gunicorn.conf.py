"""gunicorn settings for `make run`, `make bench` and production (`gunicorn outpost_admin.wsgi`
run from this folder reads this file). The figures behind them are in README.md, "Speed".

Threads, because a request spends most of its time waiting for DynamoDB: a thread stuck on a
slow store call (at most about 2.6 s, see "Time budget") leaves the others serving, so
/health/live and cached reads answer while the store is stalled.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A request never legitimately runs this long; a worker stuck past it is restarted.
timeout = 30
# gunicorn's maximum request line (its default is 4094), so that the app itself answers a URL
# over outpost_admin.api.limits.MAX_URL_LENGTH with a JSON 414 rather than gunicorn's HTML one.
limit_request_line = 8190

# Each running instance has a control socket of its own (`gunicornc -s var/gunicorn-<pid>.ctl`),
# in the app's var dir and named by the master's pid: gunicorn's default is one per user
# (~/.gunicorn/gunicorn.ctl), which a second instance on the host takes over from the first.
_var_dir = os.environ.get("OUTPOST_VAR_DIR") or os.path.join(os.path.dirname(__file__), "var")
control_socket = os.path.join(os.path.abspath(_var_dir), f"gunicorn-{os.getpid()}.ctl")
# A Unix socket's path holds at most 107 bytes: a var dir too deep for one gets none.
control_socket_disable = len(control_socket.encode()) > 100


def post_worker_init(worker: object) -> None:
    """Load the URLconf and build the DynamoDB client before the first request, not during it."""
    from django.urls import get_resolver

    from outpost_admin.dynamo import client

    get_resolver().url_patterns  # noqa: B018 - evaluating it imports every view
    client()
