r"""`python -m pyck_eval <command> [--flags]`: evaluate, compare and explain trained pyck_train runs.

Commands: report, features, svc, stack, gradcam, explain, pixels, segment, predict, export. `python -m pyck_eval
<command> --helpfull` lists a command's flags. Each writes into --out_dir (with an index.html) and
prints where.
"""

from __future__ import annotations

import importlib
import sys

from absl import app, flags

from pyck_classifier.model.litert import ExportError
from pyck_eval.tasks.errors import OptionError
from pyck_tfds.console import quiet_python_logs

COMMANDS = {
    "report": "metrics, confusion matrices, confused pairs and worst mistakes of a trained run",
    "features": "pooled CNN features of every split, cached as .npz",
    "svc": "SVC, logistic regression and XGBoost on CNN features vs the network's own head",
    "stack": "stacking of several runs' probabilities, meta-learner fitted on validation only",
    "gradcam": "Grad-CAM / Grad-CAM++ heatmaps for any registry backbone",
    "explain": "Grad-CAM, Integrated Gradients and SHAP per photo, scored by deletion and insertion curves",
    "pixels": "RandomForest / XGBoost baselines on downscaled raw pixels",
    "segment": "KMeans and MeanShift colour segmentation previews",
    "predict": "top-k families of image files",
    "export": "a LiteRT (.tflite) model with its labels, optionally quantized, and its parity with Keras",
}


def usage() -> str:
    lines = [__doc__.strip(), "", "commands:"] + [f"  {name:<9} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


flags.DEFINE_bool("debug", False, "Show Python tracebacks instead of one-line errors.")

# Every command accepted these before each got its own options (issue 25): a shared flagfile keeps working where
# one does nothing, and a note says so rather than ignoring it silently.
FLAGS_EVERY_COMMAND_ACCEPTS = ("out_dir", "data_dir", "batch_size", "seed", "runtime")


def accept_shared_flags(command: str) -> list[str]:
    """Defines the shared flags the command has no use for; returns their names."""
    unused = [name for name in FLAGS_EVERY_COMMAND_ACCEPTS if name not in flags.FLAGS]
    for name in unused:
        flags.DEFINE_string(name, None, f"No effect on {command}; accepted so flagfiles shared by the commands work.")
    return unused


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        if len(sys.argv) >= 2 and sys.argv[1] not in ("-h", "--help"):
            print(f"error: unknown command {sys.argv[1]!r}\n", file=sys.stderr)
        print(usage(), file=sys.stderr)
        sys.exit(0 if len(sys.argv) >= 2 and sys.argv[1] in ("-h", "--help") else 2)
    command = importlib.import_module(f"pyck_eval.commands.{sys.argv[1]}")
    getattr(command, "prepare", lambda: None)()
    unused = accept_shared_flags(sys.argv[1])
    flags.adopt_module_key_flags(command)  # --help lists the command's flags, not only "Try --helpfull"
    sys.modules["__main__"].__doc__ = command.__doc__  # and starts with the command's own usage

    def run(argv: list[str]) -> None:
        """The command's main, with the mistakes a user makes (a missing run or file, an option that cannot serve,
        Ctrl-C) as one line."""
        quiet_python_logs()
        for name in unused:
            if flags.FLAGS[name].present:
                print(f"note: --{name} has no effect on {sys.argv[1]}", file=sys.stderr)
        try:
            command.main(argv)
        except (OptionError, FileNotFoundError, ExportError, KeyboardInterrupt) as err:
            if flags.FLAGS.debug:
                raise
            interrupted = isinstance(err, KeyboardInterrupt)
            print(f"error: {'interrupted' if interrupted else err}", file=sys.stderr)
            sys.exit(130 if interrupted else 1)

    app.run(run, argv=[f"pyck_eval {sys.argv[1]}", *sys.argv[2:]])


if __name__ == "__main__":
    main()
