"""One colour per class, the same in the static figures and the explorer: matplotlib's tab10
(Bokeh's Category10) up to 10 classes, tab20 (Category20) up to 20, and evenly spaced hues at
alternating lightness beyond, so that no two classes share a colour however many there are."""

from __future__ import annotations

import colorsys

TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
         "#17becf")
TAB20 = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd",
         "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d",
         "#17becf", "#9edae5")


def class_colours(classes: int) -> list[str]:
    """``classes`` hex colours, the i-th for label i."""
    if classes <= len(TAB10):
        return list(TAB10[:classes])
    if classes <= len(TAB20):
        return list(TAB20[:classes])
    colours = []
    for i in range(classes):
        r, g, b = colorsys.hls_to_rgb(i / classes, 0.35 if i % 2 else 0.6, 0.75)
        colours.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return colours
