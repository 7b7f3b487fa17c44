"""Small bar charts as inline SVG, drawn on the server (no JavaScript, and
nothing but numbers from the store goes into the markup)."""

from __future__ import annotations

from markupsafe import Markup


def bars(received: list[int], quarantined: list[int], label: str, width: int = 264, height: int = 64) -> Markup:
    """Received per bucket (grey) with the quarantined part (red) on top of the baseline."""
    n = max(len(received), 1)
    top = max([*received, 1])
    step = width / n
    out = [
        f'<svg class="chart" role="img" aria-label="{Markup.escape(label)}" viewBox="0 0 {width} {height + 14}" '
        f'width="{width}" height="{height + 14}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#c8ccd2" stroke-width="1"/>',
    ]
    for i, (r, q) in enumerate(zip(received, quarantined, strict=True)):
        x = i * step + 1
        w = max(step - 2, 1)
        h = r / top * (height - 2)
        hq = q / top * (height - 2)
        if r:
            out.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{w:.1f}" height="{h:.1f}" fill="#8fa8c8"/>')
        if q:
            out.append(f'<rect x="{x:.1f}" y="{height - hq:.1f}" width="{w:.1f}" height="{hq:.1f}" fill="#c0392b"/>')
    out.append(
        f'<text x="0" y="{height + 12}" font-size="10" fill="#5b6470">{Markup.escape(label)} · max {top}</text></svg>'
    )
    return Markup("".join(out))
