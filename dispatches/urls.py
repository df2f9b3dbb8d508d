from django.urls import path, re_path

from . import views

app_name = "dispatches"

# Dispatch ids are ULIDs here; records written by the control plane may use other ids.
DISPATCH = r"^dispatches/(?P<dispatch_id>[A-Za-z0-9_-]{1,64})/"

urlpatterns = [
    path("home/", views.tenant_home, name="home"),
    path("dispatches/", views.dispatch_list, name="list"),
    re_path(DISPATCH + r"$", views.dispatch_detail, name="detail"),
    re_path(DISPATCH + r"live/$", views.dispatch_live, name="live"),
    re_path(DISPATCH + r"row/$", views.dispatch_row, name="row"),
    re_path(DISPATCH + r"cancel/$", views.dispatch_cancel, name="cancel"),
    path("tenants/<id:tenant_id>/dispatches/", views.tenant_dispatches, name="tenant"),
]
