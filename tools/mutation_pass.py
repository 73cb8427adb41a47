"""A mutation pass: plant known bugs in pyck's code one at a time and check that the quick tests catch each.

Every mutant in `MUTANTS` is a real change of behaviour (not an equivalent rewrite) in a
module the model and evaluation end stand on, with the quick test files that should see it.
The pass writes the mutant, runs those files (`-m "not slow"`), records caught or survived
and writes the original back, also on Ctrl-C: run it on a clean checkout. A survivor is a
missing test; a mutant whose text is no longer in its file is reported as stale.

    python -m tools.mutation_pass                 # every mutant; a table, exit 1 if one survived
    python -m tools.mutation_pass --only=prior    # the mutants whose name contains "prior"
    python -m tools.mutation_pass --json=out.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository root
    original: str  # must occur exactly once in the file
    mutated: str
    tests: tuple[str, ...]  # quick test files (or node ids) that should catch it


MUTANTS = (
    Mutant("temperature_inverted", "pyck_classifier/posthoc/temperature_scaling.py",
           "_FLOOR)) / temperature, axis=1)\n\n\ndef negative", "_FLOOR)) * temperature, axis=1)\n\n\ndef negative",
           ("tests/test_calibration.py",)),
    Mutant("ece_unweighted_bins", "pyck_classifier/posthoc/temperature_scaling.py",
           'weights = table["examples"] / table["examples"].sum()', "weights = 1 / len(table)",
           ("tests/test_calibration.py",)),
    Mutant("out_of_class_threshold_on_last_kept", "pyck_classifier/posthoc/out_of_class.py",
           "return float((ordered[kept - 1] + ordered[kept]) / 2)", "return float(ordered[kept - 1])",
           ("tests/test_calibration.py",)),
    Mutant("mahalanobis_nearest_is_farthest", "pyck_classifier/posthoc/out_of_class.py",
           "return squared.min(axis=1)", "return squared.max(axis=1)", ("tests/test_calibration.py",)),
    Mutant("energy_sign", "pyck_classifier/posthoc/out_of_class.py",
           "return -logsumexp(np.asarray(logits, np.float64), axis=1)",
           "return logsumexp(np.asarray(logits, np.float64), axis=1)", ("tests/test_calibration.py",)),
    Mutant("abstention_highest_threshold", "pyck_eval/abstention.py",
           'reaching["min_confidence"].iloc[-1]', 'reaching["min_confidence"].iloc[0]',
           ("tests/test_calibration.py",)),
    Mutant("abstention_ties_split", "pyck_eval/abstention.py",
           "last_of_tie = np.r_[confidence[1:] != confidence[:-1], True]",
           "last_of_tie = np.ones(len(confidence), bool)", ("tests/test_calibration.py",)),
    Mutant("prior_divides_twice", "pyck_classifier/posthoc/binned_prior.py",
           "ratio[known] = class_given_bin[bins[known] - 1] / class_prior",
           "ratio[known] = class_given_bin[bins[known] - 1] / class_prior ** 2", ("tests/test_recipe.py",)),
    Mutant("prior_unsmoothed", "pyck_classifier/posthoc/binned_prior.py",
           "given = (counts + strength * prior) / (counts.sum(axis=1, keepdims=True) + strength)",
           "given = (counts + prior) / (counts.sum(axis=1, keepdims=True) + 1)", ("tests/test_recipe.py",)),
    Mutant("prior_moves_undated_rows", "pyck_classifier/posthoc/binned_prior.py",
           "known = bins > 0\n    ratio", "known = bins >= 0\n    ratio", ("tests/test_recipe.py",)),
    Mutant("months_off_by_one", "pyck_classifier/posthoc/month_prior.py",
           "return parsed.dt.month.fillna(0)", "return (parsed.dt.month % 12 + 1).fillna(0)",
           ("tests/test_recipe.py",)),
    Mutant("location_cells_latitude_ignored", "pyck_classifier/posthoc/location_prior.py",
           "cells = rows * math.ceil(360 / degrees) + columns + 1", "cells = columns + 1",
           ("tests/test_csv_export.py", "tests/test_recipe.py")),
    Mutant("per_observation_per_photo", "pyck_classifier/posthoc/scores.py",
           '"per_observation_accuracy": observations["accuracy"]', '"per_observation_accuracy": images["accuracy"]',
           ("tests/test_eval_core.py",)),
    Mutant("macro_f1_micro", "pyck_classifier/posthoc/scores.py",
           'average="macro", labels=classes', 'average="micro", labels=classes', ("tests/test_eval_core.py",)),
    Mutant("loss_of_top_class", "pyck_classifier/posthoc/scores.py",
           "chosen = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)",
           "chosen = np.clip(probabilities.max(axis=1), 1e-7, 1.0)", ("tests/test_eval_core.py",)),
    Mutant("observation_max_not_mean", "pyck_classifier/posthoc/observations.py",
           'means = grouped.mean()\n', 'means = grouped.max()\n', ("tests/test_eval_core.py",)),
    Mutant("svc_fitted_on_test", "pyck_eval/feature_models.py",
           "clone(estimator).fit(train_x, train_y)", 'clone(estimator).fit(*splits["test"])',
           ("tests/test_eval_core.py",)),
    Mutant("grid_search_refit_without_validation", "pyck_eval/feature_models.py",
           "x = np.concatenate([train[0], validation[0]])\n    y = np.concatenate([train[1], validation[1]])",
           "x = np.concatenate([train[0], train[0][:len(validation[0])]])\n"
           "    y = np.concatenate([train[1], train[1][:len(validation[1])]])", ("tests/test_eval_core.py",)),
    Mutant("balanced_weights_inverted", "pyck_train/optimization.py",
           "return {i: float(w) for i, w in enumerate(weights)}",
           "return {i: float(1 / w) for i, w in enumerate(weights)}", ("tests/test_recipe.py",
                                                                       "tests/test_trainer_core.py")),
    Mutant("tta_flips_upside_down", "pyck_classifier/posthoc/test_time_augmentation.py",
           "views.append(ops.flip(images, axis=2))", "views.append(ops.flip(images, axis=1))",
           ("tests/test_recipe.py",)),
    Mutant("labels_sorted_by_count", "pyck_tfds/dump/filters.py",
           'return sorted(examples["class_name"].unique().tolist())',
           'return examples["class_name"].value_counts().index.tolist()',
           ("tests/test_dump_reader.py", "tests/test_examples.py")),
    Mutant("confidence_at_threshold_kept", "pyck_tfds/dump/filters.py",
           '~(f.frame[TAXON_PREFIX + "confidence"] > dump_filter.min_confidence)',
           '~(f.frame[TAXON_PREFIX + "confidence"] >= dump_filter.min_confidence)', ("tests/test_dump_reader.py",)),
    Mutant("splits_ignore_the_seed", "pyck_tfds/dump/splits.py",
           "shuffle=True, random_state=seed)", "shuffle=True, random_state=0)", ("tests/test_dump_reader.py",)),
    Mutant("atomic_write_in_place", "pyck_classifier/run/atomic_write.py",
           "os.replace(partial, path)", "pass", ("tests/test_epoch_backup.py", "tests/test_provenance.py")),
    Mutant("integrated_gradients_without_trapezoid_ends", "pyck_eval/integrated_gradients.py",
           "weights[[0, -1]] /= 2", "weights[[0, -1]] /= 1", ("tests/test_eval_core.py",)),
    Mutant("deletion_least_attributed_first", "pyck_eval/faithfulness.py",
           'return np.argsort(-values.ravel(), kind="stable")', 'return np.argsort(values.ravel(), kind="stable")',
           ("tests/test_eval_core.py",)),
    Mutant("back_off_strictly_above_the_threshold", "pyck_classifier/posthoc/back_off.py",
           "(top >= min_confidence)", "(top > min_confidence)", ("tests/test_taxonomy.py",)),
    Mutant("taxonomy_minority_parent", "pyck_classifier/posthoc/taxonomy.py",
           "ascending=[True, False, True]", "ascending=[True, True, True]", ("tests/test_taxonomy.py",)),
    Mutant("coarser_detector_on_the_classes", "pyck_classifier/posthoc/calibration.py",
           "taxa = Mahalanobis.fit(train_features, taxonomy.label_at(train_labels, level),\n"
           "                                   len(taxonomy.names(level)))",
           "taxa = mahalanobis", ("tests/test_taxonomy.py",)),
    Mutant("fetch_without_part_file", "tools/mo_images.py",
           'partial = path + ".part"', "partial = path", ("tests/test_fetch_mo_images.py",)),
    Mutant("rate_limit_halved", "tools/mo_images.py",
           "due = self.last + 1.0 / self.rate", "due = self.last + 0.5 / self.rate",
           ("tests/test_fetch_mo_images.py",)),
)


@dataclasses.dataclass
class Outcome:
    name: str
    path: str
    result: str  # caught, survived, stale (its text is not in the file once)
    seconds: float
    failed_tests: list[str]


def run_mutant(mutant: Mutant, python: str = sys.executable, root: str = ROOT) -> Outcome:
    """Plants `mutant`, runs its tests, writes the original back whatever happens."""
    path = os.path.join(root, mutant.path)
    with open(path) as f:
        original = f.read()
    if original.count(mutant.original) != 1:
        return Outcome(mutant.name, mutant.path, "stale", 0.0, [])
    started = time.monotonic()
    try:
        with open(path, "w") as f:
            f.write(original.replace(mutant.original, mutant.mutated))
        result = subprocess.run([python, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider",
                                 *mutant.tests], cwd=root, capture_output=True, text=True)
    finally:
        with open(path, "w") as f:
            f.write(original)
    failed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    return Outcome(mutant.name, mutant.path, "caught" if result.returncode == 1 and failed else "survived",
                   time.monotonic() - started, failed)


def main(argv: list[str]) -> int:
    from absl import flags

    only, out = flags.FLAGS.only, flags.FLAGS.json
    if len(argv) > 1:
        print(f"error: unexpected argument {argv[1]}: the pass takes --only and --json only", file=sys.stderr)
        return 2
    chosen = [m for m in MUTANTS if only in m.name]
    if not chosen:
        print(f"error: --only={only} names no mutant; they are: {', '.join(m.name for m in MUTANTS)}",
              file=sys.stderr)
        return 2
    outcomes = []
    for number, mutant in enumerate(chosen, 1):
        outcome = run_mutant(mutant)
        outcomes.append(outcome)
        print(f"[{number}/{len(chosen)}] {outcome.result:8s} {mutant.name} ({mutant.path}, {outcome.seconds:.0f} s)"
              + (f": {outcome.failed_tests[0]}" if outcome.failed_tests else ""), flush=True)
    counts = {result: sum(o.result == result for o in outcomes) for result in ("caught", "survived", "stale")}
    print(f"{len(outcomes)} mutants: " + ", ".join(f"{count} {result}" for result, count in counts.items()))
    if out:
        with open(out, "w") as f:
            json.dump([dataclasses.asdict(o) for o in outcomes], f, indent=1)
    return 0 if counts["survived"] == counts["stale"] == 0 else 1


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("only", "", "Run only the mutants whose name contains this text.")
    flags.DEFINE_string("json", None, "Also write the outcomes to this JSON file.")
    app.run(lambda argv: sys.exit(main(argv)))
