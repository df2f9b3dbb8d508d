import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "outpost_admin.settings")
# The web server answers within its time budget; commands and workers wait longer (settings).
os.environ.setdefault("OUTPOST_WEB", "true")
application = get_wsgi_application()
