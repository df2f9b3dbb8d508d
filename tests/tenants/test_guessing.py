"""Guessing is slowed: sign-in lockout per account at an address and per address, API failures throttled per
address, and a forged key asked about twice costs one read."""

import time
from datetime import timedelta

import dj_database_url
import pytest
from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from outpost_admin.dynamo import counting_calls
from outpost_admin.settings import SQLITE_BUSY_SECONDS, with_sqlite_options
from tenants import authentication, keys
from tests.conftest import unreachable_store

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed sign-ins"


def sign_in(username: str, password: str, address: str = "127.0.0.1"):
    return Client(REMOTE_ADDR=address).post(
        "/accounts/login/", {"username": username, "password": password}
    )


def fail(times: int, username: str = "staff", address: str = "127.0.0.1") -> None:
    for _ in range(times):
        assert sign_in(username, "wrong-password", address).status_code == 200  # the form again


# --- signing in -------------------------------------------------------------------------------------


def test_an_account_is_locked_after_five_failures_with_a_clear_message(staff_user, settings):
    fail(settings.AXES_FAILURE_LIMIT - 1)
    response = sign_in("staff", "wrong-password")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "administrator can unlock" in response.content.decode()
    assert int(response["Retry-After"]) == 15 * 60
    # Even the right password is refused while the lock holds.
    assert sign_in("staff", "pw-staff-1").status_code == 429


def test_a_stranger_elsewhere_never_locks_the_account_out(staff_user, settings):
    """Issue 14, bug 12: the lock is a username at an address, not the username anywhere."""
    for n in range(settings.AXES_FAILURE_LIMIT + 2):
        sign_in("staff", "wrong-password", address=f"10.0.0.{n + 1}")
    fail(settings.AXES_FAILURE_LIMIT - 1, address="10.0.1.1")
    assert sign_in("staff", "wrong-password", address="10.0.1.1").status_code == 429
    assert sign_in("staff", "pw-staff-1", address="10.0.9.9").status_code == 302


def test_five_failures_for_one_name_leave_the_others_at_that_address_alone(staff_user, settings):
    """An office behind one NAT: someone's typos lock no one else out."""
    fail(settings.AXES_FAILURE_LIMIT - 1, username="nobody", address="10.0.0.7")
    assert sign_in("nobody", "wrong-password", address="10.0.0.7").status_code == 429
    assert sign_in("staff", "pw-staff-1", address="10.0.0.7").status_code == 302


def test_an_address_trying_many_usernames_is_still_locked(staff_user, settings):
    settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT = 8
    for n in range(7):
        assert sign_in(f"nobody-{n}", "wrong-password", address="10.0.0.7").status_code == 200
    assert sign_in("nobody-7", "wrong-password", address="10.0.0.7").status_code == 429
    assert sign_in("staff", "pw-staff-1", address="10.0.0.7").status_code == 429
    assert sign_in("staff", "pw-staff-1", address="10.0.0.8").status_code == 302


def test_the_form_says_how_many_tries_are_left_before_a_lock(staff_user, settings):
    settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT = 6
    first = sign_in("staff", "wrong-password", address="10.0.0.5").content.decode()
    assert "4 more failed tries before signing in from here is paused." in first
    fail(2, username="other", address="10.0.0.5")  # the address's lock is nearer now
    third = sign_in("staff", "wrong-password", address="10.0.0.5").content.decode()
    assert "2 more failed tries before" in third
    last = sign_in("someone", "wrong-password", address="10.0.0.5").content.decode()
    assert "1 more failed try before" in last
    assert "more failed tr" not in Client().get("/accounts/login/").content.decode()


def test_a_success_before_the_limit_clears_the_count(staff_user, settings):
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("staff", "pw-staff-1").status_code == 302
    fail(settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("staff", "pw-staff-1").status_code == 302


def test_an_admin_unlocks_an_account_with_axes_reset_username(staff_user, settings):
    fail(settings.AXES_FAILURE_LIMIT - 1, address="10.0.0.1")
    assert sign_in("staff", "wrong-password", address="10.0.0.1").status_code == 429
    assert sign_in("staff", "pw-staff-1", address="10.0.0.1").status_code == 429
    call_command("axes_reset_username", "staff")
    assert sign_in("staff", "pw-staff-1", address="10.0.0.1").status_code == 302


def test_an_admin_unlocks_an_address_with_axes_reset_ip(staff_user, settings):
    lock_address("10.0.0.7", settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT)
    call_command("axes_reset_ip", "10.0.0.7")
    assert sign_in("staff", "pw-staff-1", address="10.0.0.7").status_code == 302


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(staff_user, settings):
    settings.OUTPOST_TRUSTED_PROXIES = 1
    settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT
    for n in range(settings.AXES_FAILURE_LIMIT):
        Client(REMOTE_ADDR="10.9.9.9").post(
            "/accounts/login/",
            {"username": f"nobody-{n}", "password": "x"},
            headers={"X-Forwarded-For": f"forged-{n}, 203.0.113.5"},
        )
    locked = Client(REMOTE_ADDR="10.9.9.9").post(
        "/accounts/login/",
        {"username": "staff", "password": "pw-staff-1"},
        headers={"X-Forwarded-For": "203.0.113.5"},
    )
    assert locked.status_code == 429
    other = Client(REMOTE_ADDR="10.9.9.9").post(
        "/accounts/login/",
        {"username": "staff", "password": "pw-staff-1"},
        headers={"X-Forwarded-For": "203.0.113.6"},
    )
    assert other.status_code == 302


def lock_address(address: str, limit: int) -> None:
    for n in range(limit):
        sign_in(f"nobody-{n}", "wrong-password", address=address)


def test_a_locked_address_adds_no_row_for_each_new_username(settings):
    lock_address("10.0.0.9", settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT)
    for n in range(20):
        assert sign_in(f"random-{n}", "wrong-password", "10.0.0.9").status_code == 429
    assert AccessAttempt.objects.count() == settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT


def test_a_refused_try_restarts_the_wait_of_the_lock_that_refused_it(staff_user, settings):
    lock_address("10.0.0.10", settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT)
    earlier = timezone.now() - timedelta(minutes=10)
    AccessAttempt.objects.update(attempt_time=earlier)
    assert sign_in("staff", "pw-staff-1", "10.0.0.10").status_code == 429
    assert not AccessAttempt.objects.filter(attempt_time__lte=earlier).exists()


def test_failures_older_than_the_lockout_are_deleted_at_the_next_failure(settings):
    lock_address("10.0.0.11", settings.OUTPOST_LOGIN_ADDRESS_FAILURE_LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME)
    fail(1, username="someone", address="10.0.0.12")
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["10.0.0.12"]


def _database_locked(*_, **__):
    raise OperationalError("database is locked")


def test_a_lock_that_cannot_be_read_refuses_the_sign_in_with_a_503_not_a_500(
    staff_user, monkeypatch
):
    monkeypatch.setattr(AxesDatabaseHandler, "get_user_attempts", _database_locked)
    response = sign_in("staff", "pw-staff-1")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "could not be checked" in response.content.decode()


def test_a_failure_that_cannot_be_recorded_answers_the_form_again(staff_user, monkeypatch):
    monkeypatch.setattr(AxesDatabaseHandler, "user_login_failed", _database_locked)
    assert sign_in("staff", "wrong-password").status_code == 200


def test_a_success_whose_records_cannot_be_updated_still_signs_in(staff_user, monkeypatch):
    monkeypatch.setattr(AxesDatabaseHandler, "user_logged_in", _database_locked)
    assert sign_in("staff", "pw-staff-1").status_code == 302


def test_sqlite_gets_wal_a_busy_timeout_and_immediate_transactions_and_others_nothing():
    sqlite = with_sqlite_options(dict(dj_database_url.parse("sqlite:///var/x.sqlite3")))
    assert sqlite["OPTIONS"] == {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        "transaction_mode": "IMMEDIATE",
        "timeout": SQLITE_BUSY_SECONDS,
    }
    postgres = with_sqlite_options(dict(dj_database_url.parse("postgres://u:p@db:5432/outpost")))
    assert not postgres.get("OPTIONS")


# --- the API ----------------------------------------------------------------------------------------


def me(key: str, address: str = "127.0.0.1"):
    return Client(REMOTE_ADDR=address).get("/api/v1/me", headers={"X-API-Key": key})


def test_a_repeated_forged_key_costs_one_read_then_none():
    forged = keys.generate()  # a valid checksum, but no such key
    with counting_calls() as first:
        assert me(forged).status_code == 401
    with counting_calls() as again:
        assert me(forged).status_code == 401
    assert first.operations == ["Query"] and again.operations == []


def test_a_repeated_forged_legacy_key_costs_two_reads_then_none():
    forged = "otp_" + "ab" * 32
    with counting_calls() as first:
        assert me(forged).status_code == 401
    with counting_calls() as again:
        assert me(forged).status_code == 401
    assert first.operations == ["Query", "Query"] and again.operations == []


def test_a_forged_key_is_forgotten_after_a_while(monkeypatch, settings):
    forged = keys.generate()
    me(forged)
    later = time.monotonic() + settings.API_KEY_UNKNOWN_CACHE_SECONDS + 1
    monkeypatch.setattr(authentication.time, "monotonic", lambda: later)
    with counting_calls() as log:
        assert me(forged).status_code == 401
    assert log.operations == ["Query"]


def test_an_address_that_keeps_failing_gets_429_with_retry_after_and_no_read(settings, make_tenant):
    settings.API_AUTH_FAILURE_LIMIT = 3
    _, issued = make_tenant()
    for _ in range(3):
        assert me(keys.generate(), "10.1.1.1").status_code == 401
    with counting_calls() as log:
        throttled = me(keys.generate(), "10.1.1.1")
    assert throttled.status_code == 429 and log.count == 0
    assert 0 < int(throttled["Retry-After"]) <= settings.API_AUTH_FAILURE_WINDOW_SECONDS
    assert throttled.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert me(issued.raw, "10.1.1.1").status_code == 429  # the whole address waits
    assert me(issued.raw, "10.1.1.2").status_code == 200  # other addresses don't


def test_malformed_and_revoked_keys_count_as_failures_too(settings):
    settings.API_AUTH_FAILURE_LIMIT = 2
    assert me("otp_nope", "10.1.1.3").status_code == 401
    assert me("otp_nope", "10.1.1.3").status_code == 401
    assert me("otp_nope", "10.1.1.3").status_code == 429


def test_the_address_may_try_again_when_the_window_ends(settings, monkeypatch):
    settings.API_AUTH_FAILURE_LIMIT = 1
    assert me(keys.generate(), "10.1.1.4").status_code == 401
    assert me(keys.generate(), "10.1.1.4").status_code == 429
    later = time.monotonic() + settings.API_AUTH_FAILURE_WINDOW_SECONDS + 1
    monkeypatch.setattr(authentication.time, "monotonic", lambda: later)
    assert me(keys.generate(), "10.1.1.4").status_code == 401


def test_a_store_outage_is_no_failure_of_the_caller(settings):
    settings.API_AUTH_FAILURE_LIMIT = 1
    with unreachable_store():
        assert me(keys.generate(), "10.1.1.5").status_code == 503
        assert me(keys.generate(), "10.1.1.5").status_code == 503


def test_a_sign_in_without_a_request_is_checked_by_password_alone(staff_user):
    assert Client().login(username="staff", password="pw-staff-1")
    assert not Client().login(username="staff", password="wrong-password")
