"""Times, durations, error lines and audit details as people read them."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from outpost_admin.templatetags import outpost

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (10, "just now"),
        (3 * 60, "3 min ago"),
        (89 * 60, "89 min ago"),
        (5 * 3600, "5 h ago"),
        (3 * 86400, "3 days ago"),
        (-58 * 60, "in 58 min"),
        (-20, "in a few seconds"),
    ],
)
def test_relative_times_read_at_a_glance(seconds, text):
    assert outpost.relative(NOW - timedelta(seconds=seconds), NOW) == text


def test_a_time_carries_the_exact_utc_time_on_hover(monkeypatch):
    monkeypatch.setattr(outpost, "utcnow", lambda: NOW)
    html = outpost.ago(NOW - timedelta(minutes=3))
    assert html == (
        '<time datetime="2026-11-27T11:57:00+00:00" title="2026-11-27 11:57:00 UTC">3 min ago</time>'
    )
    assert outpost.ago("2026-11-27T11:00:00.000Z#ab12").endswith(">60 min ago</time>")
    assert outpost.ago(None) == "—" and outpost.ago("not a time") == "—"


def test_history_rows_show_how_long_a_dispatch_ran(monkeypatch):
    monkeypatch.setattr(outpost, "utcnow", lambda: NOW)
    created = NOW - timedelta(minutes=2)
    done = SimpleNamespace(
        started_at=created,
        claimed_at=created + timedelta(seconds=2),
        ended_at=created + timedelta(seconds=32.1),
    )
    assert outpost.run_time(done) == "ran 30.1 s"
    running = SimpleNamespace(started_at=created, claimed_at=created, ended_at=None)
    assert outpost.run_time(running) == "running 2 min 00 s"
    waiting = SimpleNamespace(started_at=NOW - timedelta(seconds=4), claimed_at=None, ended_at=None)
    assert outpost.run_time(waiting) == "waiting 4.0 s"
    assert outpost.duration(created, created + timedelta(hours=1, minutes=2)) == "1 h 02 min"


def test_a_dispatch_cancelled_before_any_claim_never_ran(monkeypatch):
    monkeypatch.setattr(outpost, "utcnow", lambda: NOW)
    created = NOW - timedelta(seconds=30)
    ended = created + timedelta(seconds=7)
    pending = SimpleNamespace(
        started_at=created, claimed_at=None, ended_at=ended, api_status="cancelled"
    )
    assert outpost.run_time(pending) == "never ran"
    running = SimpleNamespace(**{**vars(pending), "claimed_at": created + timedelta(seconds=2)})
    assert outpost.run_time(running) == "ran 5.0 s"
    on_ecs = SimpleNamespace(**{**vars(pending), "task_arn": "arn:aws:ecs:task/1"})
    assert outpost.run_time(on_ecs) == "ran 7.0 s"  # the control plane's: no claim, a task


def test_the_error_line_is_the_last_meaningful_line_kept_short():
    assert outpost.error_summary("a\nb\n\nTraceback: boom\n  \n") == "Traceback: boom"
    assert len(outpost.error_summary("x" * 5000)) == 200
    assert outpost.error_summary("") == ""


def test_audit_details_are_labelled_values():
    details = outpost.audit_details(
        {
            "scopes": ["dispatch", "status"],
            "previousStatus": "PENDING",
            "limits": {"max_jobs": 3},
            "emailed": True,
            "empty": None,
        }
    )
    assert details == [
        ("Emailed", "yes"),
        ("Empty", "—"),
        ("Limits", "Max jobs: 3"),
        ("Previous status", "PENDING"),
        ("Scopes", "dispatch, status"),
    ]
