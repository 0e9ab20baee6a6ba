"""Paired bars in a terminal: for each hour, the taller of two values drawn behind the shorter,
in eighths of a cell, with a value axis on the left and hour labels below.

Drawn by hand rather than with plotext, whose bars at terminal widths land up to an hour off
their x and draw an idle hour as a sliver at the axis; here every bar sits on its hour, an idle
hour is empty, and the output is plain ``rich.text.Text`` for any width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text

_EIGHTHS = " ▁▂▃▄▅▆▇█"
_LABEL_GAP = 1


def _glyph(height_rows: float, row: int) -> str:
    """The glyph of a bar ``height_rows`` tall in ``row`` (0 at the bottom)."""
    return _EIGHTHS[round(min(max(height_rows - row, 0.0), 1.0) * 8)]


def _top(values: Sequence[float]) -> float:
    """The axis' top: the largest value rounded up to a figure that reads well."""
    largest = max(values, default=0.0)
    if largest <= 0:
        return 1.0
    step = 10.0 ** math.floor(math.log10(largest))
    return float(math.ceil(largest / step * 2) / 2 * step)


def draw(
    back: Sequence[float],
    front: Sequence[float],
    labels: Sequence[str],
    *,
    width: int,
    height: int,
    styles: tuple[str, str],
) -> Text:
    """``back[i]`` and ``front[i]`` as one bar pair over ``labels[i]``, in ``width`` by ``height``
    cells (the last line holds the labels). ``styles`` colour the first and the second series;
    whichever value is taller is drawn behind, so both show."""
    rows = max(height - 1, 1)
    top = _top([*back, *front])
    axis = [f"{top:g}", f"{top / 2:g}", "0"]
    axis_width = max(len(text) for text in axis) + 1
    count = max(len(labels), 1)
    per = max((width - axis_width) // count, 1)
    bar = per - 1 if per > 2 else per
    scale = rows / top
    chart = Text(no_wrap=True, overflow="crop")
    for row in reversed(range(rows)):
        name = {rows - 1: axis[0], rows // 2: axis[1], 0: axis[2]}.get(row, "")
        chart.append(f"{name:>{axis_width - 1}}┤" if name else " " * (axis_width - 1) + "│", "dim")
        for a, b in zip(back, front, strict=True):
            glyph, style = _cell(a * scale, b * scale, row, styles)
            gap = " " * (per - bar)
            if " on " in style:
                chart.append(glyph * bar, style)
                chart.append(gap)
            else:
                # The gap shares the bar's style (a space shows none of it), so a row is a few
                # long runs instead of two spans per hour: the snapshots stay small.
                chart.append(glyph * bar + gap, style if glyph != " " else "")
        chart.append("\n")
    chart.append(" " * axis_width)
    every = math.ceil((max(len(label) for label in labels) + _LABEL_GAP) / per) if labels else 1
    line = ""
    for i, label in enumerate(labels):
        if i % every == 0 and len(line) <= i * per:
            line = line.ljust(i * per) + label
    chart.append(line, "dim")
    return chart


def _cell(back: float, front: float, row: int, styles: tuple[str, str]) -> tuple[str, str]:
    """The glyph and style of one cell of a pair: the shorter bar in front, the taller one's
    top above it (or behind a partly filled cell, as its background)."""
    (near, near_style), (far, far_style) = sorted(
        [(back, styles[0]), (front, styles[1])], key=lambda pair: pair[0]
    )
    glyph = _glyph(near, row)
    if glyph == "█":
        return glyph, near_style
    if glyph != " ":
        behind = _glyph(far, row) == "█"
        return glyph, f"{near_style} on {far_style}" if behind else near_style
    return _glyph(far, row), far_style
