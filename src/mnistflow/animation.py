"""GIFs and their PNG contact sheets (for viewers, such as Snakemake's report, that do not animate)."""

from __future__ import annotations

from PIL import Image

from . import atomic


def save_gif(frames: list[Image.Image], path, milliseconds: int = 120) -> None:
    """An endlessly looping GIF, every frame quantised to its own palette."""
    quantised = [f.quantize(colors=64, method=Image.Quantize.MEDIANCUT) for f in frames]
    with atomic.atomic_path(path) as tmp:
        quantised[0].save(tmp, format="GIF", save_all=True, append_images=quantised[1:],
                          duration=milliseconds, loop=0, optimize=False)


def save_contact_sheet(frames: list[Image.Image], path) -> None:
    """First, middle and last frame side by side as a PNG (for viewers that do not animate)."""
    picked = [frames[0], frames[len(frames) // 2], frames[-1]]
    width, height = picked[0].size
    sheet = Image.new("RGB", (3 * width, height), "white")
    for i, frame in enumerate(picked):
        sheet.paste(frame, (i * width, 0))
    with atomic.atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
