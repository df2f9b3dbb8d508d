"""Issue 13: the ids of a tenant's keys leave the tenant item (which every create and finish
writes) for `KEY#` items of its partition. Tenants an earlier version wrote keep their
`apiKeyIds` set until `upgrade_layout` moves it, and are read in both layouts meanwhile."""

from io import StringIO

from django.core.management import call_command

from outpost_admin.dynamo import call, client, iso, to_item, values
from outpost_admin.dynamo.tables import TENANTS
from tenants import authentication, services, storage
from tenants.counters import tenant_key
from tenants.domain import KeyStatus, Scope, TenantStatus


def _as_an_earlier_version_wrote_it(tenant_id: str, key_id: str) -> None:
    call(
        "update_item",
        TableName=TENANTS.name,
        Key=tenant_key(tenant_id),
        UpdateExpression="ADD apiKeyIds :ids",
        ExpressionAttributeValues=values({":ids": {key_id}}),
    )
    call(
        "delete_item",
        TableName=TENANTS.name,
        Key=to_item({"tenant_id": tenant_id, "sk": f"KEY#{key_id}"}),
    )


def test_a_key_listed_only_on_an_old_tenant_item_is_suspended_then_moved(make_tenant, actor):
    tenant, _ = make_tenant()
    fresh = services.key_create(
        tenant_id=tenant.tenant_id,
        name="old",
        scopes=(Scope.DISPATCH,),
        expires_at=None,
        actor=actor,
    )
    _as_an_earlier_version_wrote_it(tenant.tenant_id, fresh.key.api_key_id)

    def lagging_index(parsed, model, **_):
        if model.name == "Query":
            parsed["Items"] = [
                i
                for i in parsed.get("Items", [])
                if i.get("apiKeyId", {}).get("S") != fresh.key.api_key_id or "keyHash" not in i
            ]

    client().meta.events.register("after-call.dynamodb.Query", lagging_index)
    try:
        services.tenant_set_status(
            tenant_id=tenant.tenant_id, status=TenantStatus.SUSPENDED, actor=actor
        )
    finally:
        client().meta.events.unregister("after-call.dynamodb.Query", lagging_index)
    assert storage.key_get(fresh.key.api_key_id).status == KeyStatus.REVOKED
    authentication.forget_all()

    out = StringIO()
    call_command("upgrade_layout", "--keep-old-indexes", stdout=out)
    assert "key lists: " in out.getvalue()
    after = storage.tenant_get(tenant.tenant_id)
    assert after.key_ids == frozenset()  # off the tenant item
    assert fresh.key.api_key_id in storage.key_ids_listed(after)  # on an item of its own
    services.tenant_set_status(tenant_id=tenant.tenant_id, status=TenantStatus.ACTIVE, actor=actor)
    assert storage.key_get(fresh.key.api_key_id).status == KeyStatus.ACTIVE


def test_an_operator_key_issued_before_its_list_existed_is_listed_by_the_upgrade(
    make_tenant, operator_key
):
    tenant, _ = make_tenant()
    issued = operator_key(tenant.tenant_id)
    listing = to_item(
        {
            "tenant_id": storage.OPERATOR_KEYS,
            "sk": f"{iso(issued.key.created_at)}#{issued.key.api_key_id}",
        }
    )
    call("delete_item", TableName=TENANTS.name, Key=listing)  # as an earlier version left it
    assert issued.key.api_key_id not in [k.api_key_id for k, _ in storage.operator_keys()]
    out = StringIO()
    call_command("upgrade_layout", "--keep-old-indexes", stdout=out)
    assert "operator keys: " in out.getvalue()
    listed = dict((k.api_key_id, name) for k, name in storage.operator_keys())
    assert listed[issued.key.api_key_id] == tenant.name
