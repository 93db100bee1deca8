"""Inline SVG charts rendered on the server: they need no script, no CDN, and they print."""

from __future__ import annotations

from markupsafe import Markup, escape

from ..constants import MIN_VOLUME


def volume_axis(most: int, ticks: int = 4) -> int:
    """The top of the volume axis: the smallest "nice" number ≥ ``most`` that ``ticks`` splits
    into whole steps (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5 or 8 × 10ⁿ per step), so that every label
    is a different whole number. ``most / 4`` printed without decimals read "0, 0, 0, 1, 1"
    for a unit's one rating a day, and repeated labels for a maximum of 3.

    >>> [volume_axis(n) for n in (1, 3, 4, 5, 9, 30, 101, 428)]
    [4, 4, 4, 8, 12, 32, 120, 600]
    """
    magnitude = 1
    while True:
        for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 8):
            step = m * magnitude
            if step == int(step) and step * ticks >= most:
                return int(step) * ticks
        magnitude *= 10


def trend(points: list[dict], target: float, width: int = 880, height: int = 240,
          labels: dict | None = None, min_volume: int = MIN_VOLUME) -> Markup:
    """Daily volume as bars and the satisfaction rate as a line, with the target dashed.

    A day with fewer than ``min_volume`` ratings is left out of the line (and of the rate
    axis): its rate is a grey dot, its figures on hover. One 不满意 on a day of one rating
    plunged the line to 0 % and stretched the axis down to it, flattening every other day."""
    labels = labels or {"rate": "rate", "volume": "volume", "target": "target"}
    left, right, top, bottom = 48, 48, 16, 28
    w, h = width - left - right, height - top - bottom
    n = max(len(points), 1)
    step = w / n
    vtop = volume_axis(max([p["rated"] for p in points] + [1]))

    def counted(p) -> bool:
        return p["rate"] is not None and p["rated"] >= min_volume

    rates = [p["rate"] for p in points if counted(p)]
    low = min(rates + [target]) if rates else target
    lo = next(x for x in (0.8, 0.6, 0.0) if x <= low)  # ticks every 5, 10 or 25 points

    def y_rate(r):
        return top + h - (r - lo) / (1 - lo) * h

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(labels["rate"])}" xmlns="http://www.w3.org/2000/svg">']
    for i in range(5):
        r = lo + (1 - lo) * i / 4
        y = y_rate(r)
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="ax" text-anchor="end">'
                     f'{r * 100:.0f}%</text>')
        parts.append(f'<text x="{left + w + 6}" y="{top + h - h * i / 4 + 4:.1f}" class="ax">'
                     f'{vtop * i // 4}</text>')
    for i, p in enumerate(points):
        bh = p["rated"] / vtop * h
        x = left + i * step
        parts.append(f'<rect x="{x + step * 0.18:.1f}" y="{top + h - bh:.1f}" '
                     f'width="{step * 0.64:.1f}" height="{bh:.1f}" class="bar">'
                     f'<title>{escape(p["day"])}: {p["rated"]}</title></rect>')
        if i % max(1, n // 8) == 0:
            parts.append(f'<text x="{x + step / 2:.1f}" y="{height - 8}" class="ax" '
                         f'text-anchor="middle">{escape(p["day"][5:])}</text>')
    ty = y_rate(target)
    parts.append(f'<line x1="{left}" x2="{left + w}" y1="{ty:.1f}" y2="{ty:.1f}" class="target"/>')
    path, pen, dots = [], "M", []
    for i, p in enumerate(points):
        if not counted(p):
            pen = "M"
            if p["rate"] is not None:   # too few to mean anything: grey, off the line
                x = left + i * step + step / 2
                y = max(top, min(top + h, y_rate(p["rate"])))   # held inside the plot
                dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" class="few" '
                            f'fill="#b8c0ca"><title>{escape(p["day"])}: '
                            f'{p["rate"] * 100:.0f}% ({p["rated"]})</title></circle>')
            continue
        x, y = left + i * step + step / 2, y_rate(p["rate"])
        path.append(f'{pen}{x:.1f},{y:.1f}')
        pen = "L"
        # a day with a rate between days without one: a line of one point is not drawn, so
        # a unit rated on a single day showed no rate at all
        if all(not 0 <= j < len(points) or not counted(points[j]) for j in (i - 1, i + 1)):
            dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="dot"/>')
    if path:
        parts.append(f'<path d="{" ".join(path)}" class="line"/>')
    parts.extend(dots)
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(items: list[tuple[str, int]], width: int = 420) -> Markup:
    """Horizontal bars (label, count), e.g. the reasons of bad ratings."""
    if not items:
        return Markup("")
    top = max(c for _, c in items) or 1
    row, label_w = 26, 120
    height = row * len(items) + 4
    parts = [f'<svg class="chart hbars" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for i, (label, count) in enumerate(items):
        y = i * row + 4
        bw = (width - label_w - 50) * count / top
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" class="lbl">'
                     f'{escape(label)}</text><rect x="{label_w}" y="{y + 3}" width="{bw:.1f}" '
                     f'height="16" class="bar bad"/><text x="{label_w + bw + 6:.1f}" '
                     f'y="{y + 15}" class="ax">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def heatmap(grid: dict, hours: range, days: list[str], width: int = 880) -> Markup:
    """Ratings by weekday (rows) and hour (columns); darker = more, red border = bad share."""
    top_n = max([v[0] for v in grid.values()] + [1])
    cell_w = (width - 60) / len(hours)
    cell_h = 26
    height = cell_h * len(days) + 24
    parts = [f'<svg class="chart heat" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for j, h in enumerate(hours):
        parts.append(f'<text x="{60 + j * cell_w + cell_w / 2:.1f}" y="{height - 6}" '
                     f'class="ax" text-anchor="middle">{h}</text>')
    for i, day in enumerate(days):
        parts.append(f'<text x="52" y="{i * cell_h + 17}" class="ax" text-anchor="end">'
                     f'{escape(day)}</text>')
        for j, h in enumerate(hours):
            n, bad = grid.get((i, h), (0, 0))
            alpha = 0.06 + 0.9 * n / top_n if n else 0.03
            cls = "cell hot" if n and bad / n > 0.05 else "cell"
            parts.append(f'<rect x="{60 + j * cell_w + 1:.1f}" y="{i * cell_h + 1}" '
                         f'width="{cell_w - 2:.1f}" height="{cell_h - 2}" class="{cls}" '
                         f'fill-opacity="{alpha:.2f}"><title>{escape(day)} {h}:00 — {n} / '
                         f'{bad}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))
