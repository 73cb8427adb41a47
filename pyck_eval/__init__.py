"""Evaluating, explaining and exporting trained runs: `python -m pyck_eval <command>`, or these functions.

    import pyck_eval
    run = pyck_eval.load_run("runs/quickstart")
    result = pyck_eval.report(run, pyck_eval.ReportOptions(split="test"))
    answers = pyck_eval.predict(run, ["photos/"], pyck_eval.PredictOptions(top_k=3))

Names are imported on first use, so `import pyck_eval` does not start TensorFlow.
"""

import importlib

from pyck_tfds.console import quiet_tensorflow

quiet_tensorflow()  # before anything here imports TensorFlow; a TF_CPP_MIN_LOG_LEVEL the user set wins

_PUBLIC = {  # name -> the module that defines it
    "load_run": "pyck_eval.trained_run", "TrainedRun": "pyck_eval.trained_run",
    "report": "pyck_eval.tasks.report", "ReportOptions": "pyck_eval.tasks.report",
    "ReportResult": "pyck_eval.tasks.report",
    "predict": "pyck_eval.tasks.predict", "predict_in_chunks": "pyck_eval.tasks.predict",
    "PredictOptions": "pyck_eval.tasks.predict", "Answer": "pyck_eval.tasks.predict",
    "load_exported": "pyck_eval.tasks.predict", "ExportedModel": "pyck_eval.tasks.predict",
    "export": "pyck_eval.tasks.export", "ExportOptions": "pyck_eval.tasks.export",
    "extract_features": "pyck_eval.tasks.features", "FeaturesOptions": "pyck_eval.tasks.features",
    "compare_on_features": "pyck_eval.tasks.svc", "SvcOptions": "pyck_eval.tasks.svc",
    "stack_runs": "pyck_eval.tasks.stack", "StackOptions": "pyck_eval.tasks.stack",
    "gradcam": "pyck_eval.tasks.gradcam", "GradCamOptions": "pyck_eval.tasks.gradcam",
    "explain": "pyck_eval.tasks.explain", "ExplainOptions": "pyck_eval.tasks.explain",
    "ExplainResult": "pyck_eval.tasks.explain",
    "pixel_baselines": "pyck_eval.tasks.pixels", "PixelsOptions": "pyck_eval.tasks.pixels",
    "segment": "pyck_eval.tasks.segment", "SegmentOptions": "pyck_eval.tasks.segment",
    "OptionError": "pyck_eval.tasks.errors",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'pyck_eval' has no attribute {name!r}")
