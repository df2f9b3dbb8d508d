"""Settings for `make bench`'s gunicorn only: the app's settings plus a bare view to compare with.

The bare view is registered here and nowhere else, so production URLs never have it.
"""

from outpost_admin.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
