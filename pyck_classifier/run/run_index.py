"""`index.html` at the top of a model_dir: one page linking everything the run and its evaluations wrote.

The trainer writes it when it finishes, and every eval command that writes inside a model_dir
writes it again, so the page always lists what is there. Pure Python.
"""

from __future__ import annotations

import glob
import html
import json
import os

from pyck_classifier.run import run_directory as names

RUN_FILES = (  # (what it is, file name) in the order a reader wants them
    ("Training curves (loss and accuracy per epoch, every phase)", names.TRAINING_CURVES),
    ("Metrics on validation and test (per image, per observation, TTA, month prior, calibration)", names.METRICS),
    ("Calibration: temperature and out-of-class thresholds (fitted on validation)", names.CALIBRATION),
    ("The flags that trained it (rerun with --flagfile to resume or reproduce)", names.FLAGS),
    ("Labels, in the model's output order", names.LABELS),
    ("Taxonomy: the genus and family of each class (the coarser answers sum over it)", names.TAXONOMY),
    ("Month prior p(class | month) of the training split", names.MONTH_PRIOR),
    ("Keras model", names.MODEL),
)


def _headline(model_dir: str) -> str:
    with open(os.path.join(model_dir, names.METRICS)) as f:
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
                   for p in glob.glob(os.path.join(model_dir, *depth, names.INDEX)))
    if pages:
        parts.append("<h2>Evaluations</h2><ul>")
        parts += [f"<li><a href='{html.escape(p)}'>{html.escape(os.path.dirname(p))}</a></li>" for p in pages]
        parts.append("</ul>")
    logs = html.escape(os.path.join(model_dir, names.LOGS))
    parts.append(f"<h2>TensorBoard</h2><pre>tensorboard --logdir {logs}</pre>")
    if os.path.exists(os.path.join(model_dir, names.TRAINING_CURVES)):
        parts.append(f"<img src='{names.TRAINING_CURVES}' alt='training curves'>")
    path = os.path.join(model_dir, names.INDEX)
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
    return path
