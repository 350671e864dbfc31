"""Server-side SVG line charts for the Lead Nurture page: no script, no network, no library. Pure."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape

WIDTH, HEIGHT = 520, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 14, 26


def _y_max(values: list[float], levels: list[float]) -> float:
    top = max([*values, *levels, 0.0])
    if top <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100):
        if top * 1.1 <= step:
            return float(step)
    return float(int(top * 1.1) + 1)


def line_chart(
    title: str,
    points: list[dict],
    *,
    start_day: date,
    end_day: date,
    target: float | None = None,
    alert: float | None = None,
    unit: str = "%",
) -> str:
    """One metric per day over [start_day, end_day): a polyline of the days that have a value
    (gaps stay gaps), dashed lines at the target (green) and the alert level (red)."""
    days = max((end_day - start_day).days, 1)
    values = [float(p["value"]) for p in points if p["value"] is not None]
    levels = [v for v in (target, alert) if v is not None]
    y_max = _y_max(values, levels)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(day: date) -> float:
        return PAD_LEFT + plot_w * ((day - start_day).days + 0.5) / days

    def y(value: float) -> float:
        return PAD_TOP + plot_h * (1 - value / y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" data-points="{len(values)}"><title>{escape(title)}</title>',
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ddd"/>',
    ]
    for fraction in (0, 0.5, 1):
        value = y_max * fraction
        parts.append(
            f'<text x="{PAD_LEFT - 4}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="10" fill="#666">'
            f"{value:g}{escape(unit)}</text>"
        )
    for level, colour, name in ((target, "#2e7d32", "target"), (alert, "#c62828", "alert")):
        if level is not None:
            parts.append(
                f'<line class="{name}" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y(level):.1f}" '
                f'y2="{y(level):.1f}" stroke="{colour}" stroke-dasharray="4 3"/>'
            )
    segment: list[str] = []
    segments: list[list[str]] = []
    expected = start_day
    for p in sorted(points, key=lambda p: p["day"]):
        if p["value"] is None or p["day"] != expected:
            if segment:
                segments.append(segment)
            segment = []
        if p["value"] is not None:
            segment.append(f"{x(p['day']):.1f},{y(float(p['value'])):.1f}")
        expected = p["day"] + timedelta(days=1)
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle class="series" cx="{cx}" cy="{cy}" r="2" fill="#1565c0"/>')
        else:
            parts.append(
                f'<polyline class="series" fill="none" stroke="#1565c0" stroke-width="1.5" points="{" ".join(seg)}"/>'
            )
    parts.append(
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 8}" font-size="10" fill="#666">{start_day.isoformat()}</text>'
        f'<text x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 8}" font-size="10" fill="#666" text-anchor="end">'
        f"{(end_day - timedelta(days=1)).isoformat()}</text>"
    )
    if not values:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="12" fill="#999">'
            "no analytics in this window</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
