from django.conf import settings

from outpost_admin.dynamo import client, reset_client


def test_without_an_endpoint_the_client_talks_to_aws_with_timeouts_and_standard_retries():
    saved = settings.DYNAMODB_ENDPOINT_URL
    settings.DYNAMODB_ENDPOINT_URL = None
    reset_client()
    try:
        built = client()  # building makes no call; nothing here reaches AWS
        assert (
            built.meta.endpoint_url == f"https://dynamodb.{settings.DYNAMODB_REGION}.amazonaws.com"
        )
        assert built.meta.config.connect_timeout == 2 and built.meta.config.read_timeout == 5
        assert built.meta.config.retries["mode"] == "standard"
    finally:
        settings.DYNAMODB_ENDPOINT_URL = saved
        reset_client()
