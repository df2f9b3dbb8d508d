"""Template helpers every page uses: times people can read, the navigation, short errors."""

import re
from datetime import UTC, datetime
from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html

from outpost_admin.dynamo import parse_iso, utcnow

register = template.Library()


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            return parse_iso(value.split("#", 1)[0])
        except ValueError:
            return None
    return None


def relative(when: datetime, now: datetime) -> str:
    """ "3 min ago", "in 58 min", "2 days ago": what a person reads at a glance."""
    seconds = (now - when).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "in a few seconds" if future else "just now"
    minutes = seconds / 60
    if minutes < 90:
        text = f"{max(1, round(minutes))} min"
    elif minutes < 48 * 60:
        text = f"{round(minutes / 60)} h"
    else:
        text = f"{round(minutes / 1440)} days"
    return f"in {text}" if future else f"{text} ago"


@register.filter
def ago(value: Any) -> str:
    """A <time> with the relative time as text and the exact UTC time on hover."""
    when = _as_datetime(value)
    if when is None:
        return "—"
    exact = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        when.astimezone(UTC).isoformat(),
        exact,
        relative(when, utcnow()),
    )


def duration(start: datetime | None, end: datetime | None) -> str:
    """ "30.1 s", "4 min 05 s", "1 h 02 min"."""
    if start is None or end is None or start.tzinfo is None or end.tzinfo is None:
        return "?"
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


@register.filter
def run_time(dispatch: Any) -> str:
    """A history row's duration: how long it ran, is running, or has been waiting; a dispatch
    cancelled before anything claimed it (no claim, no ECS task) never ran."""
    started, ended = getattr(dispatch, "claimed_at", None), dispatch.ended_at
    never_started = not started and not getattr(dispatch, "task_arn", "")
    if ended and never_started and getattr(dispatch, "api_status", "") == "cancelled":
        return "never ran"
    if ended:
        return f"ran {duration(started or dispatch.started_at, ended)}"
    if started:
        return f"running {duration(started, utcnow())}"
    return f"waiting {duration(dispatch.started_at, utcnow())}"


@register.filter
def error_summary(message: str) -> str:
    """The error's last meaningful line, short: the output itself is shown below it."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    return last if len(last) <= 200 else f"{last[:199]}…"


@register.filter
def arn_tail(arn: str) -> str:
    """An ECS task ARN's task id (what the ECS console shows), the whole ARN on hover."""
    return (arn or "").rsplit("/", 1)[-1]


@register.simple_tag(takes_context=True)
def nav_link(context: dict[str, Any], url_name: str, label: str) -> str:
    """A navigation link, marked aria-current when the page is in its section."""
    url = reverse(url_name)
    request = context.get("request")
    current = request is not None and request.path.startswith(url)
    if current:
        return format_html('<a href="{}" aria-current="page">{}</a>', url, label)
    return format_html('<a href="{}">{}</a>', url, label)


@register.filter
def lookup(mapping: dict[str, Any] | None, key: str) -> Any:
    """`{{ names|lookup:id }}`: a value of a dict the view built (e.g. tenant names by id)."""
    return (mapping or {}).get(key, "")


def _label(name: str) -> str:
    """ "previousStatus" or "previous_status" -> "Previous status"."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").lower().split()
    return " ".join(words).capitalize()


def _text(value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_text(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{_label(str(k))}: {_text(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value is None or value == "" else str(value)


@register.filter
def audit_details(metadata: dict[str, Any] | None) -> list[tuple[str, str]]:
    """An audit record's details as (label, text) pairs: no Python reprs on the page."""
    return [(_label(str(k)), _text(v)) for k, v in sorted((metadata or {}).items())]


@register.filter
def usd(micros: Any) -> str:
    """Micro-USD (how spend and budgets are kept) as dollars and cents."""
    if micros is None or micros == "":
        return ""
    return f"${int(micros) / 1_000_000:,.2f}"
