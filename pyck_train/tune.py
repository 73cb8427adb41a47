r"""Optuna search over the trainer's flags, scored on VALIDATION accuracy (the test split is never looked at).

    python -m pyck_train.tune --flagfile=configs/quickstart.flags --n_trials=20 \
        --storage=sqlite:///optuna.db --study_name=lite0 --model_dir=runs/tune --train_subset=5000

Searched: backbone (among --tune_backbones), learning rate, dropout, head width, batch size, and
the unfreeze depth when --strategy=partial. Unpromising trials are pruned on validation
accuracy after each epoch (median rule). The study lives in --storage: run the same command
again and it goes on until --n_trials trials have finished; a trial cut short by a kill is
retried (RDB heartbeat). Writes into --model_dir: `trial_<n>/` (each trial's trainer outputs),
`best.flags` (train the winner with `python -m pyck_train --flagfile=best.flags`),
`trials.csv`, `optimization_history.png` and `param_importances.png`.
"""

from __future__ import annotations

import os

from absl import app, flags

from pyck_classifier.model.backbones.registry import available_backbones
from pyck_train import flags as train_flags
from pyck_train import provenance

flags.adopt_module_key_flags(train_flags)  # --help lists the trainer's flags too
flags.DEFINE_integer("n_trials", 20, "Finished (complete or pruned) trials the study should have.", lower_bound=1)
flags.DEFINE_string("storage", None, "Optuna storage URL (default: sqlite:///<model_dir>/optuna.db).")
flags.DEFINE_string("study_name", "pyck", "Study name inside --storage.")
flags.DEFINE_list("tune_backbones", None, "Backbones to choose from (default: just --backbone).")
flags.DEFINE_integer("heartbeat_seconds", 60, "RDB heartbeat: a trial silent for 2x this long is retried.",
                     lower_bound=1)

FLAGS = flags.FLAGS


@flags.validator("tune_backbones", message="--tune_backbones: every name must be in the backbone registry")
def _known_backbones(value: list[str] | None) -> bool:
    return value is None or set(value) <= set(available_backbones())


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import optuna  # with TensorFlow, only once the flags are valid (--help answers at once)

    from pyck_train.tuning import make_storage, run_study, write_reports

    base = train_flags.config_from_flags()
    os.makedirs(base.model_dir, exist_ok=True)
    storage_url = FLAGS.storage or f"sqlite:///{os.path.abspath(os.path.join(base.model_dir, 'optuna.db'))}"
    study = optuna.create_study(
        study_name=FLAGS.study_name, storage=make_storage(storage_url, FLAGS.heartbeat_seconds),
        direction="maximize", load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=base.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    try:
        best = run_study(base, study, FLAGS.n_trials, FLAGS.tune_backbones or [base.backbone])
    except provenance.RunDirectoryError as err:  # a trial's folder holds a run trained with other flags
        raise SystemExit(f"error: {err}") from None
    if best is None:
        raise SystemExit(f"study {FLAGS.study_name!r} in {storage_url} has no completed trial (all pruned or failed)")
    for path in write_reports(study, best, base.model_dir):
        print(path)
    print(f"best validation accuracy {study.best_value:.4f} (trial {study.best_trial.number}); "
          f"train it with: python -m pyck_train --flagfile={os.path.join(base.model_dir, 'best.flags')}")


if __name__ == "__main__":
    train_flags.mark_required()
    app.run(main)
