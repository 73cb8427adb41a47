"""Procedural mushroom pictures whose family shows in cap shape, colour and texture.

Each family has a style; colour, size, position, lighting and background vary per image,
so a classifier has to learn the style, not memorise pixels. Within a family, a species
keeps one of the style's cap colours (jittered), where the style has several.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


@dataclasses.dataclass(frozen=True)
class FamilyStyle:
    cap_colors: tuple[tuple[int, int, int], ...]  # base colours, jittered per image
    cap_shape: str  # convex | bun | dome | depressed | umbo | bell | cluster | bracket | honeycomb
    texture: str  # smooth | spots | streaks | fibrils | scales | pores | pits
    stem_color: tuple[int, int, int] = (235, 230, 215)
    stem_width: float = 0.22  # half the stem width, as a fraction of the cap radius
    stem_height: float = 1.0
    ring: bool = False
    bulb: bool = False


BACKGROUNDS = (
    ((70, 110, 50), (40, 70, 30)),  # moss
    ((120, 90, 60), (80, 55, 35)),  # leaf litter
    ((90, 140, 70), (60, 100, 40)),  # grass
    ((150, 130, 110), (100, 85, 70)),  # bark / wood
    ((60, 60, 55), (30, 35, 30)),  # dark forest floor
    ((170, 160, 140), (120, 110, 95)),  # sand
)


def _jitter(rng: np.random.Generator, color: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


def _background(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    width, height = size
    top, bottom = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    top, bottom = _jitter(rng, top, 20), _jitter(rng, bottom, 20)
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    pixels = (1 - t) * np.array(top) + t * np.array(bottom)
    pixels = np.broadcast_to(pixels, (height, width, 3)).copy()
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(15, 40))):  # leaves, twigs, blades of grass
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(3, 14) * width / 320
        color = _jitter(rng, bottom if rng.random() < 0.5 else top, 45)
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r / 2, x + r, y + r / 2), fill=color)
        else:
            draw.line((x, y, x + rng.uniform(-r, r), y - 2 * r), fill=color, width=max(1, int(r / 4)))
    return image


def _cap_polygon(shape: str, cx: float, top: float, radius: float) -> list[tuple[float, float]]:
    """Outline of a cap seen from the side, from left rim over the top to the right rim."""
    angles = np.linspace(np.pi, 0, 40)
    heights = {"convex": 0.65, "bun": 0.9, "dome": 0.8, "depressed": 0.3, "umbo": 0.55}
    if shape == "bell":
        xs = cx + radius * np.cos(angles) * 0.85
        ys = top + radius * 1.2 * (1 - np.sin(angles) ** 0.6)
        return list(zip(xs, ys))
    h = heights.get(shape, 0.65)
    xs = cx + radius * np.cos(angles)
    ys = top + radius * h * (1 - np.sin(angles))
    if shape == "umbo":
        ys -= radius * 0.25 * np.exp(-((np.cos(angles)) ** 2) / 0.03)
    if shape == "depressed":
        ys += radius * 0.12 * np.exp(-((np.cos(angles)) ** 2) / 0.1)
    return list(zip(xs, ys))


def _texture(draw: ImageDraw.ImageDraw, rng: np.random.Generator, style: FamilyStyle, cap: list, color) -> None:
    xs = [p[0] for p in cap]
    ys = [p[1] for p in cap]
    left, right, top, rim = min(xs), max(xs), min(ys), max(ys)
    cx, radius = (left + right) / 2, (right - left) / 2
    dark = tuple(int(c * 0.55) for c in color)
    if style.texture == "spots":
        for _ in range(int(rng.integers(8, 16))):
            x = rng.uniform(left + radius * 0.2, right - radius * 0.2)
            y = rng.uniform(top + (rim - top) * 0.15, rim - (rim - top) * 0.2)
            r = radius * rng.uniform(0.05, 0.1)
            draw.ellipse((x - r, y - r * 0.7, x + r, y + r * 0.7), fill=(245, 242, 230))
    elif style.texture == "streaks":
        for k in range(14):
            x = left + (k + 0.5) * (right - left) / 14
            draw.line((cx, top + 2, x, rim - 1), fill=dark, width=max(1, int(radius / 30)))
    elif style.texture == "fibrils":
        for _ in range(40):
            x = rng.uniform(left + 3, right - 3)
            draw.line((x, top + (rim - top) * 0.3, x + rng.uniform(-4, 4), rim - 1), fill=dark, width=1)
    elif style.texture == "scales":
        for _ in range(int(rng.integers(12, 20))):
            x = rng.uniform(left + radius * 0.2, right - radius * 0.2)
            y = rng.uniform(top + (rim - top) * 0.2, rim - (rim - top) * 0.15)
            s = radius * 0.06
            draw.polygon([(x - s, y), (x + s, y), (x, y + s * 1.5)], fill=dark)
    elif style.texture == "pores":
        draw.rectangle((left + radius * 0.1, rim - (rim - top) * 0.12, right - radius * 0.1, rim), fill=(215, 190, 60))
    elif style.texture == "pits":
        for _ in range(int(rng.integers(15, 25))):
            x = rng.uniform(left + radius * 0.15, right - radius * 0.15)
            y = rng.uniform(top + (rim - top) * 0.1, rim - (rim - top) * 0.1)
            r = radius * 0.09
            draw.ellipse((x - r, y - r, x + r, y + r), fill=dark)


def _mushroom(draw: ImageDraw.ImageDraw, rng: np.random.Generator, style: FamilyStyle, cx, ground, radius,
             variant: int | None = None) -> None:
    drawn = int(rng.integers(len(style.cap_colors)))  # drawn even for a variant: the other draws stay the same
    cap_color = _jitter(rng, style.cap_colors[drawn if variant is None else variant % len(style.cap_colors)], 18)
    stem_color = _jitter(rng, style.stem_color, 12)
    if style.cap_shape == "bracket":
        for k in range(3):
            y = ground - radius * (0.8 + k * 0.7)
            draw.chord((cx - radius, y - radius * 0.4, cx + radius * 1.4, y + radius * 0.4), 180, 360, fill=cap_color)
            draw.arc((cx - radius, y - radius * 0.4, cx + radius * 1.4, y + radius * 0.4), 180, 360,
                     fill=tuple(int(c * 0.6) for c in cap_color), width=max(1, int(radius / 12)))
        return
    stem_h = radius * style.stem_height * rng.uniform(0.9, 1.3)
    stem_w = radius * style.stem_width * 2
    cap_bottom = ground - stem_h
    if style.cap_shape == "honeycomb":
        draw.rectangle((cx - stem_w / 2, cap_bottom, cx + stem_w / 2, ground), fill=stem_color)
        draw.ellipse((cx - radius * 0.6, cap_bottom - radius * 1.6, cx + radius * 0.6, cap_bottom + radius * 0.1),
                     fill=cap_color)
        cap = [(cx - radius * 0.6, cap_bottom - radius * 1.6), (cx + radius * 0.6, cap_bottom)]
        _texture(draw, rng, style, cap, cap_color)
        return
    draw.polygon([(cx - stem_w / 2, cap_bottom), (cx + stem_w / 2, cap_bottom), (cx + stem_w * 0.6, ground),
                  (cx - stem_w * 0.6, ground)], fill=stem_color)
    if style.bulb:
        draw.ellipse((cx - stem_w, ground - stem_w * 0.9, cx + stem_w, ground + stem_w * 0.3), fill=stem_color)
    if style.ring:
        y = cap_bottom + stem_h * 0.2
        draw.ellipse((cx - stem_w * 0.9, y - stem_w * 0.2, cx + stem_w * 0.9, y + stem_w * 0.2),
                     fill=tuple(min(255, c + 15) for c in stem_color))
    heights = {"bell": 1.2, "bun": 0.9, "dome": 0.8}
    cap_top = cap_bottom - radius * heights.get(style.cap_shape, 0.65)
    cap = _cap_polygon(style.cap_shape, cx, cap_top, radius)
    draw.polygon(cap, fill=cap_color)
    _texture(draw, rng, style, cap, cap_color)


def draw_sample_image(style: FamilyStyle, size: tuple[int, int], rng: np.random.Generator,
                      variant: int | None = None) -> Image.Image:
    """One photo-like RGB picture of a mushroom of `style`, `size` = (width, height).

    `variant` (a species' index in its family) fixes the cap colour among the style's, so the species of a
    family whose style has several colours can be told apart; None draws it per picture.
    """
    width, height = size
    image = _background(rng, size)
    draw = ImageDraw.Draw(image)
    scale = min(width, height)
    count = int(rng.integers(3, 6)) if style.cap_shape == "cluster" else 1
    shape = dataclasses.replace(style, cap_shape="convex") if style.cap_shape == "cluster" else style
    for k in range(count):
        radius = scale * (rng.uniform(0.1, 0.16) if count > 1 else rng.uniform(0.2, 0.33))
        cx = width * (rng.uniform(0.3, 0.7) if count == 1 else (k + 0.5) / count + rng.uniform(-0.05, 0.05))
        ground = height * rng.uniform(0.75, 0.95)
        _mushroom(draw, rng, shape, cx, ground, radius, variant)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels * rng.uniform(0.75, 1.2) + rng.normal(0, 5, pixels.shape)  # exposure and sensor noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
