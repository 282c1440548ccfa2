"""Small inline SVG charts with axes: readable without script, each bar titled with its value."""

from __future__ import annotations

from html import escape

LEFT, BOTTOM, TOP = 44, 18, 6
"""Room for the y axis's labels, the x axis's labels, and above the highest bar."""


def bar_chart(points: list[tuple[str, int]], label: str, unit: str, width: int = 640, height: int = 160) -> str:
    """Bars over x labels (the first and last written under the axis), a y axis from 0 to the highest value."""
    if not points:
        return ""
    top = max(value for _, value in points) or 1
    plot_w, plot_h = width - LEFT, height - BOTTOM - TOP
    step = plot_w / len(points)
    bars = "".join(
        f'<rect x="{LEFT + i * step + 1:.1f}" y="{TOP + plot_h - value / top * plot_h:.1f}" '
        f'width="{max(step - 2, 1):.1f}" height="{value / top * plot_h:.1f}" fill="#2f5bd3">'
        f'<title>{escape(x)}: {value:,} {escape(unit)}</title></rect>' for i, (x, value) in enumerate(points))
    axes = (f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#5b6478"/>'
            f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{width}" y2="{TOP + plot_h}" stroke="#5b6478"/>'
            f'<text x="{LEFT - 4}" y="{TOP + 8}" font-size="11" text-anchor="end">{top:,}</text>'
            f'<text x="{LEFT - 4}" y="{TOP + plot_h}" font-size="11" text-anchor="end">0</text>'
            f'<text x="{LEFT}" y="{height - 4}" font-size="11">{escape(points[0][0])}</text>'
            f'<text x="{width}" y="{height - 4}" font-size="11" text-anchor="end">{escape(points[-1][0])}</text>')
    return (f'<svg role="img" aria-label="{escape(label)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{axes}{bars}</svg>')


def sizes_over_runs(size_now: int | None, runs: list[dict]) -> list[tuple[str, int]]:
    """An audience's size after each of its last runs (oldest first), from the entries and exits of each and its
    size now."""
    if size_now is None or not runs:
        return []
    sizes, size = [], int(size_now)
    for run in reversed(runs):
        sizes.append((f"run {run['run_id']}", size))
        size -= int(run["entered"]) - int(run["exited"])
    return list(reversed(sizes))
