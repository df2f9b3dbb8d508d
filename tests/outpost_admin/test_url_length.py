"""An over-long URL is a JSON 414 in the envelope, in-process and through gunicorn."""

import json
import urllib.error
import urllib.request

import pytest
from django.test import Client

from outpost_admin.api.limits import MAX_URL_LENGTH
from tests.live_app import app_server


def long_path(length: int) -> str:
    base = "/api/v1/dispatches?filler="
    return base + "a" * (length - len(base))


def assert_uri_too_long(status: int, body: dict) -> None:
    assert status == 414
    assert body["success"] is False and body["error"]["code"] == "URI_TOO_LONG"
    assert body["error"]["details"] == {"maxLength": MAX_URL_LENGTH}
    assert body["meta"]["requestId"]


def test_a_url_over_the_limit_is_a_json_414_in_the_envelope(client: Client):
    response = client.get(long_path(MAX_URL_LENGTH + 1))
    assert_uri_too_long(response.status_code, response.json())
    assert response["X-Request-ID"] == response.json()["meta"]["requestId"]


def test_a_url_at_the_limit_is_answered_as_usual(client: Client):
    response = client.get(long_path(MAX_URL_LENGTH))
    assert response.status_code == 401  # no key: the API's own answer


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.server
def test_through_gunicorn_a_url_over_the_limit_is_the_apps_json_414(dynamodb_local, tmp_path):
    with app_server(dynamodb_local, tmp_path) as url:
        status, body = get(url + long_path(2 * MAX_URL_LENGTH - 200))  # below gunicorn's 8190
        assert_uri_too_long(status, json.loads(body))
        status, _ = get(url + long_path(MAX_URL_LENGTH))
        assert status == 401
        status, _ = get(url + long_path(9000))  # beyond gunicorn's own limit: its HTML 414
        assert status == 414
