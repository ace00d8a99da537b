"""GIFs and their PNG contact sheets (for viewers, such as Snakemake's report, that do not animate)."""

from __future__ import annotations

from PIL import Image

from . import atomic


def save_gif(frames: list[Image.Image], path, milliseconds: int = 120) -> None:
    """An endlessly looping GIF. One 64-colour palette, taken from the first, middle and last
    frames, serves every frame (an animation's frames share their colours), without dithering."""
    palette = contact_sheet(frames).quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    quantised = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    with atomic.atomic_path(path) as tmp:
        quantised[0].save(tmp, format="GIF", save_all=True, append_images=quantised[1:],
                          duration=milliseconds, loop=0, optimize=False)


def contact_sheet(frames: list[Image.Image]) -> Image.Image:
    """First, middle and last frame side by side."""
    picked = [frames[0], frames[len(frames) // 2], frames[-1]]
    width, height = picked[0].size
    sheet = Image.new("RGB", (3 * width, height), "white")
    for i, frame in enumerate(picked):
        sheet.paste(frame.convert("RGB"), (i * width, 0))
    return sheet


def save_contact_sheet(frames: list[Image.Image], path) -> None:
    """The contact sheet as a PNG (for viewers that do not animate)."""
    with atomic.atomic_path(path) as tmp:
        contact_sheet(frames).save(tmp, format="PNG")
