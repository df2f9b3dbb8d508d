from django.conf import settings

from outpost_admin.dynamo import client, reset_client
from tests.conftest import PRODUCTION_TIMEOUTS


def test_without_an_endpoint_the_client_talks_to_aws_with_timeouts_and_two_attempts_in_all():
    saved = settings.DYNAMODB_ENDPOINT_URL
    settings.DYNAMODB_ENDPOINT_URL = None
    reset_client()
    try:
        built = client()  # building makes no call; nothing here reaches AWS
        assert (
            built.meta.endpoint_url == f"https://dynamodb.{settings.DYNAMODB_REGION}.amazonaws.com"
        )
        assert built.meta.config.connect_timeout == settings.DYNAMODB_CONNECT_TIMEOUT
        assert built.meta.config.read_timeout == settings.DYNAMODB_READ_TIMEOUT
        assert built.meta.config.retries == {
            "mode": "standard",
            "total_max_attempts": settings.DYNAMODB_MAX_ATTEMPTS,
        }
    finally:
        settings.DYNAMODB_ENDPOINT_URL = saved
        reset_client()


def test_the_default_budget_of_a_call_is_two_attempts_of_0_3_s_to_connect_and_1_s_to_answer():
    assert PRODUCTION_TIMEOUTS == {
        "DYNAMODB_CONNECT_TIMEOUT": 0.3,
        "DYNAMODB_READ_TIMEOUT": 1.0,
        "DYNAMODB_MAX_ATTEMPTS": 2,
    }
