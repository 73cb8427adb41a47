"""`index.html` at the top of a model_dir: one page linking everything the run and its evaluations wrote.

The trainer writes it when it finishes, and every eval command that writes inside a model_dir
writes it again, so the page always lists what is there. Pure Python.
"""

from __future__ import annotations

import glob
import html
import json
import os

RUN_FILES = (  # (what it is, file name) in the order a reader wants them
    ("Training curves (loss and accuracy per epoch, every phase)", "training_curves.png"),
    ("Metrics on validation and test (per image, per observation, TTA, month prior, calibration)", "metrics.json"),
    ("Calibration: temperature and out-of-class thresholds (fitted on validation)", "calibration.json"),
    ("The flags that trained it (rerun with --flagfile to resume or reproduce)", "flags.txt"),
    ("Labels, in the model's output order", "labels.txt"),
    ("Month prior p(class | month) of the training split", "month_prior.json"),
    ("Keras model", "model.keras"),
)


def find_run(path: str, levels: int = 3) -> str | None:
    """The model_dir holding `path` (a folder with flags.txt and metrics.json), looking up to `levels` folders up."""
    folder = os.path.abspath(path)
    for _ in range(levels + 1):
        if all(os.path.exists(os.path.join(folder, name)) for name in ("flags.txt", "metrics.json")):
            return folder
        folder = os.path.dirname(folder)
    return None


def _headline(model_dir: str) -> str:
    with open(os.path.join(model_dir, "metrics.json")) as f:
        metrics = json.load(f)
    parts = [f"{metrics.get('dataset')} - {metrics.get('backbone')} - {metrics.get('strategy')}"]
    for split in ("validation", "test"):
        if split in metrics:
            parts.append(f"{split}: accuracy {metrics[split]['accuracy']:.3f} on {metrics[split]['examples']} images")
    return "; ".join(parts)


def write_run_index(model_dir: str) -> str:
    """(Re)writes model_dir/index.html from what the folder holds now; returns its path."""
    name = os.path.basename(os.path.normpath(model_dir))
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(name)}</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto} img{max-width:100%}</style>",
             f"<h1>{html.escape(name)}</h1>", f"<p>{html.escape(_headline(model_dir))}</p>", "<h2>The run</h2><ul>"]
    for what, file_name in RUN_FILES:
        if os.path.exists(os.path.join(model_dir, file_name)):
            link = html.escape(file_name)
            parts.append(f"<li><a href='{link}'>{link}</a>: {html.escape(what)}</li>")
    parts.append("</ul>")
    pages = sorted(os.path.relpath(p, model_dir) for depth in (["*"], ["*", "*"])
                   for p in glob.glob(os.path.join(model_dir, *depth, "index.html")))
    if pages:
        parts.append("<h2>Evaluations</h2><ul>")
        parts += [f"<li><a href='{html.escape(p)}'>{html.escape(os.path.dirname(p))}</a></li>" for p in pages]
        parts.append("</ul>")
    parts.append(f"<h2>TensorBoard</h2><pre>tensorboard --logdir {html.escape(os.path.join(model_dir, 'logs'))}</pre>")
    if os.path.exists(os.path.join(model_dir, "training_curves.png")):
        parts.append("<img src='training_curves.png' alt='training curves'>")
    path = os.path.join(model_dir, "index.html")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
    return path
