"""Charts drawn on the server as SVG: stacked bars or lines per day, with a <title> on every
bar and point (the hover text), a legend, date and value axes. The numbers are also handed
to the template as a table. No JavaScript, no inline style (the CSP forbids it)."""

from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 56
PALETTE = (
    "#2f6fde",
    "#d9534f",
    "#e8a33d",
    "#7a7f87",
    "#3aa675",
    "#8e5cd9",
    "#1aa5b8",
    "#c2569b",
    "#6b8e23",
    "#a0522d",
)
COLORS = {
    "success": "#3aa675",
    "failed": "#d9534f",
    "timeout": "#e8a33d",
    "cancelled": "#7a7f87",
    "active": "#2f6fde",
    "concurrency": "#8e5cd9",
    "daily": "#d9534f",
}


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]  # None: nothing to show that day (a gap in a line)


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    days: list[date]
    series: list[Series]
    kind: str = "bar"  # "bar" (stacked) or "line"
    unit: str = ""

    @property
    def rows(self) -> list[tuple[date, list[float | None], float]]:
        """The table below the chart: each day, each series' value, and the day's total."""
        return [
            (day, values, sum(v or 0 for v in values))
            for day, values in zip(self.days, self.columns(), strict=True)
        ]

    def columns(self) -> list[list[float | None]]:
        return [[s.values[i] for s in self.series] for i in range(len(self.days))]

    @property
    def svg(self) -> SafeString:
        return mark_safe(render(self))  # noqa: S308 - every text in it went through escape()


def color(name: str, index: int) -> str:
    return COLORS.get(name, PALETTE[index % len(PALETTE)])


def nice_max(value: float) -> float:
    """The top of the value axis: 1, 2 or 5 times a power of ten, at least the largest value."""
    if value <= 0:
        return 1
    power = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def fmt(value: float) -> str:
    return f"{value:g}"


def render(chart: Chart) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = nice_max(_largest(chart))
    slot = plot_w / max(1, len(chart.days))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-labelledby="{chart.chart_id}-title">',
        f'<title id="{chart.chart_id}-title">{escape(chart.title)}</title>',
        *_axes(chart, top, slot, plot_h),
        *(
            _bars(chart, top, slot, plot_h)
            if chart.kind == "bar"
            else _lines(chart, top, slot, plot_h)
        ),
        *_legend(chart),
        "</svg>",
    ]
    return "".join(parts)


def _largest(chart: Chart) -> float:
    if not chart.series:
        return 0
    if chart.kind == "bar":
        return max((sum(v or 0 for v in day) for day in chart.columns()), default=0)
    return max((v or 0 for s in chart.series for v in s.values), default=0)


def _y(value: float, top: float, plot_h: float) -> float:
    return TOP + plot_h - value / top * plot_h


def _axes(chart: Chart, top: float, slot: float, plot_h: float) -> list[str]:
    parts = [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="currentColor" stroke-opacity="0.5"/>'
    ]
    for tick in (0, top / 2, top):
        y = _y(tick, top, plot_h)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            'stroke="currentColor" stroke-opacity="0.12"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="currentColor">{fmt(tick)}{escape(chart.unit)}</text>'
        )
    every = max(1, round(len(chart.days) / 10))
    for i, day in enumerate(chart.days):
        if i % every:
            continue
        x = LEFT + slot * (i + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="11" '
            f'fill="currentColor">{day:%m-%d}</text>'
        )
    return parts


def _bars(chart: Chart, top: float, slot: float, plot_h: float) -> list[str]:
    parts, width = [], max(1.0, slot * 0.7)
    for i, day in enumerate(chart.days):
        base = 0.0
        x = LEFT + slot * i + (slot - width) / 2
        for index, series in enumerate(chart.series):
            value = series.values[i]
            if not value:
                continue
            y0, y1 = _y(base, top, plot_h), _y(base + value, top, plot_h)
            base += value
            parts.append(
                f'<rect x="{x:.1f}" y="{y1:.1f}" width="{width:.1f}" height="{y0 - y1:.1f}" '
                f'fill="{color(series.name, index)}" data-series="{escape(series.name)}" '
                f'data-day="{day.isoformat()}" data-value="{fmt(value)}">'
                f"<title>{day.isoformat()} · {escape(series.name)}: {fmt(value)}{escape(chart.unit)}</title></rect>"
            )
    return parts


def _lines(chart: Chart, top: float, slot: float, plot_h: float) -> list[str]:
    parts = []
    for index, series in enumerate(chart.series):
        fill = color(series.name, index)
        points = [
            (LEFT + slot * (i + 0.5), _y(v, top, plot_h), day, v)
            for i, (day, v) in enumerate(zip(chart.days, series.values, strict=True))
            if v is not None
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{fill}" stroke-width="2"/>')
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{fill}" '
            f'data-series="{escape(series.name)}" data-day="{day.isoformat()}" data-value="{fmt(v)}">'
            f"<title>{day.isoformat()} · {escape(series.name)}: {fmt(v)}{escape(chart.unit)}</title></circle>"
            for x, y, day, v in points
        )
    return parts


def _legend(chart: Chart) -> list[str]:
    parts, x, y = [], float(LEFT), HEIGHT - 18
    for index, series in enumerate(chart.series):
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9}" width="10" height="10" fill="{color(series.name, index)}"/>'
            f'<text x="{x + 14:.1f}" y="{y}" font-size="11" fill="currentColor">{escape(series.name)}</text>'
        )
        x += 24 + 7 * len(series.name)
    return parts
