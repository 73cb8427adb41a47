"""One `index.html` per output folder: the figures and tables of a command, readable in a browser."""

from __future__ import annotations

import html
import os

import pandas as pd

Section = tuple[str, "str | pd.DataFrame | list[tuple[str, str]]"]  # heading, and: a PNG file name in the
# folder | a table | a list of (text, page in the folder) links | text


def write_index(out_dir: str, title: str, sections: list[Section], file_name: str = "index.html") -> str:
    """Writes `out_dir/index.html` (or `file_name`); PNGs and pages are linked relative to it, so the folder can
    be moved."""
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto} img{max-width:100%}"
             " table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>",
             f"<h1>{html.escape(title)}</h1>"]
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, pd.DataFrame):
            parts.append(content.to_html(float_format=lambda v: f"{v:.4f}", border=0))
        elif isinstance(content, list):
            parts.append("<ul>" + "".join(f"<li><a href='{html.escape(page)}'>{html.escape(text)}</a></li>"
                                          for text, page in content) + "</ul>")
        elif content.endswith(".png"):
            parts.append(f"<a href='{html.escape(content)}'><img src='{html.escape(content)}' alt='{heading}'></a>")
        else:
            parts.append(f"<pre>{html.escape(content)}</pre>")
    path = os.path.join(out_dir, file_name)
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
    return path
