"""Taxonomy-aware answers end to end on the sample dump: a species run, and one trained without a species.

The sample tells a family's species apart by cap colour only (`tools.sample_families`), so a
species run is unsure of many species but sure of their family: its answers back off to genus
or family, which these tests check against the taxonomy the sample generator planted.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd
import pytest

from pyck_tfds.mushroom_observer import configs
from tests.conftest import build_dataset, run_python
from tools.make_sample_dump import make_sample_dump
from tools.sample_families import FAMILIES

pytestmark = pytest.mark.slow

HELD_OUT = "Cortinarius violaceus"  # violet, where its genus keeps two brown species
MIN_CONFIDENCE = 0.7
EPOCHS = 20  # of the head on cached features: seconds each
PLANTED = {species: (genus, family.name) for family in FAMILIES for genus, names in family.genera.items()
           for species in names}


def _train(data_dir: str, dataset: str, model_dir: str) -> str:
    from pyck_train.config import TrainConfig
    from pyck_train.train import train

    train(TrainConfig(model_dir=model_dir, dataset=f"mushroom_observer/{dataset}", data_dir=data_dir,
                      cache_features=True, strategy="frozen", head="dense:32,dropout:0.25", epochs=EPOCHS,
                      batch_size=32))
    return model_dir


@pytest.fixture(scope="module")
def species_dump(tmp_path_factory):
    """The sample dump at its default size, where species_sample keeps 17 species of 12 genera and 7 families."""
    return make_sample_dump(str(tmp_path_factory.mktemp("species_dump")), 120, seed=0)


@pytest.fixture(scope="module")
def species_runs(species_dump, tmp_path_factory) -> dict[str, str]:
    data_dir = str(tmp_path_factory.mktemp("species_data"))
    config = next(c for c in configs.BUILDER_CONFIGS if c.name == "species_sample")
    build_dataset(species_dump.out, data_dir, config)
    root = tmp_path_factory.mktemp("species_runs")
    every = _train(data_dir, "species_sample", str(root / "every"))
    labels = json.load(open(os.path.join(every, "metrics.json")))["labels"]
    assert HELD_OUT in labels
    held_out = dataclasses.replace(config, name="species_held_out", classes=tuple(n for n in labels if n != HELD_OUT))
    build_dataset(species_dump.out, data_dir, held_out)
    return {"every": every, "held_out": _train(data_dir, "species_held_out", str(root / "held_out"))}


def photos_of(dump, species: str) -> list[str]:
    return sorted(os.path.join(root, name) for root, _, names in os.walk(dump.out) for name in names
                  if os.path.basename(root) == species and name.endswith(".jpg")
                  and os.path.getsize(os.path.join(root, name)) > 5000)


def test_the_run_records_the_planted_taxonomy_and_exports_it(species_runs):
    from pyck_eval import litert_export, load_run

    run = load_run(species_runs["every"])
    assert run.level == "species" and run.taxonomy.levels == ("species", "genus", "family")
    for i, species in enumerate(run.labels):
        assert (run.taxonomy.parents["genus"][i], run.taxonomy.parents["family"][i]) == PLANTED[species]
    assert litert_export.metadata(run, "none")["taxonomy"] == json.load(
        open(os.path.join(run.model_dir, "taxonomy.json")))
    assert set(run.calibration.levels) == {"genus", "family"}


def test_the_taxonomy_loss_trains_over_the_planted_genera_and_families(species_runs, tmp_path):
    import keras

    from pyck_train.config import TrainConfig
    from pyck_train.optimization import TaxonomyLoss
    from pyck_train.train import train

    class LossSeen(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.losses = []

        def on_train_begin(self, logs=None):
            self.losses.append(self.model.loss)

    recorded = json.load(open(os.path.join(species_runs["every"], "metrics.json")))
    seen, model_dir = LossSeen(), str(tmp_path / "model")
    train(TrainConfig(model_dir=model_dir, dataset="mushroom_observer/species_sample", data_dir=recorded["data_dir"],
                      cache_features=True, strategy="freeze_then_finetune", head="gap", epochs=1, fine_tune_epochs=1,
                      steps_per_epoch=1, train_subset=64, taxonomy_loss=0.5), extra_callbacks=[seen])
    assert len(seen.losses) == 2  # the head on cached features, then fine-tuning
    for loss in seen.losses:
        assert isinstance(loss, TaxonomyLoss) and loss.weight == 0.5
        for index, matrix in enumerate(loss.membership):  # genus, then family: as the generator planted them
            taxa = sorted({PLANTED[species][index] for species in recorded["labels"]})
            expected = [[PLANTED[species][index] == taxon for taxon in taxa] for species in recorded["labels"]]
            np.testing.assert_array_equal(matrix, np.array(expected, np.float32))
    # model.keras loads in plain Keras, without pyck's loss class.
    loaded = run_python("-c", f"import keras; print(keras.models.load_model({model_dir + '/model.keras'!r}).loss)")
    assert loaded.returncode == 0 and "categorical_crossentropy" in loaded.stdout, loaded.stderr[-2000:]


def test_the_report_sums_species_to_genus_and_family_and_backs_off(species_runs):
    from pyck_eval import ReportOptions, load_run, report

    run = load_run(species_runs["every"])
    result = report(run, ReportOptions(min_confidence=MIN_CONFIDENCE, out_dir=os.path.join(run.model_dir, "r")))
    rows = result.predictions
    p = rows[[f"p_{name}" for name in run.labels]].to_numpy()
    for level, index in (("genus", 0), ("family", 1)):  # by hand, from the planted taxonomy
        truth = [PLANTED[run.labels[label]][index] for label in rows["label"]]
        summed = pd.DataFrame(p, columns=[PLANTED[n][index] for n in run.labels]).T.groupby(level=0).sum().T
        by_hand = float((summed.idxmax(axis=1).to_numpy() == np.array(truth)).mean())
        assert result.metrics["taxonomy"]["accuracy_per_level"][level]["accuracy"] == pytest.approx(by_hand)
    accuracy = result.metrics["taxonomy"]["accuracy_per_level"]
    # The sample's species are drawn alike within a family, its families are not.
    assert accuracy["family"]["accuracy"] > accuracy["species"]["accuracy"] + 0.2
    errors = result.metrics["taxonomy"]["taxonomic_errors"]
    assert sum(errors.values()) == len(rows) and errors["right species"] == int(
        (p.argmax(axis=1) == rows["label"]).sum())
    answered = rows[rows["answer_verdict"] == "answer"]
    assert (answered["answer_probability"] >= MIN_CONFIDENCE).all()
    assert set(answered["answer_level"]) == {"species", "genus", "family"}
    assert os.path.exists(os.path.join(result.out_dir, "back_off.png"))


def test_predict_from_python_and_the_command_line_give_the_same_back_off_answers(species_runs, species_dump):
    from pyck_eval import PredictOptions, load_run, predict

    photos = photos_of(species_dump, "Cortinarius orellanus")[:6] + photos_of(species_dump, "Amanita muscaria")[:6]
    run = load_run(species_runs["every"])
    in_process = [a.to_json() for a in predict(run, photos, PredictOptions(min_confidence=MIN_CONFIDENCE))]
    result = run_python("-m", "pyck_eval", "predict", f"--model_dir={run.model_dir}", "--runtime=keras", "--json",
                        f"--min_confidence={MIN_CONFIDENCE}", *photos)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert [(a["file"], a["verdict"], a.get("answer", {}).get("level"), a.get("answer", {}).get("taxon"),
             a.get("out_of_class_at")) for a in printed] == [
        (a["file"], a["verdict"], a.get("answer", {}).get("level"), a.get("answer", {}).get("taxon"),
         a.get("out_of_class_at")) for a in in_process]
    for mine, theirs in zip(in_process, printed):
        if "answer" in mine:
            assert theirs["answer"]["probability"] == pytest.approx(mine["answer"]["probability"], abs=1e-5)
    assert {a["answer"]["level"] for a in in_process if "answer" in a} & {"genus", "family"}


def test_a_run_without_a_species_answers_its_photos_at_genus_or_family(species_runs, species_dump):
    from pyck_eval import PredictOptions, ReportOptions, load_run, predict, report

    run = load_run(species_runs["held_out"])
    assert HELD_OUT not in run.labels
    photos = photos_of(species_dump, HELD_OUT)
    answers = predict(run, photos, PredictOptions(min_confidence=MIN_CONFIDENCE))
    levels = pd.Series([a.answer["level"] if a.answer else a.verdict for a in answers]).value_counts()
    print(f"{len(answers)} photos of {HELD_OUT} (not a class of the run): {levels.to_dict()}")
    coarser = [a for a in answers if a.answer and a.answer["level"] in ("genus", "family")]
    assert len(coarser) >= 0.5 * len(answers), levels.to_dict()
    right = {"genus": PLANTED[HELD_OUT][0], "family": PLANTED[HELD_OUT][1]}
    assert sum(a.answer["taxon"] == right[a.answer["level"]] for a in coarser) >= 0.9 * len(coarser)
    # Without back-off the same photos get a species (never the held-out one) or nothing.
    plain = predict(run, photos, PredictOptions(min_confidence=MIN_CONFIDENCE, back_off=False))
    assert all(a.answer is None or a.answer["level"] == "species" for a in plain)
    # The report's account of the held-out species' test photos (another config of the data_dir).
    result = report(run, ReportOptions(ood_from="species_sample", min_confidence=MIN_CONFIDENCE,
                                       out_dir=os.path.join(run.model_dir, "r")))
    table = pd.DataFrame(result.metrics["out_of_class"]["back_off"]).set_index("answered")
    print(table)
    assert table["photos"].sum() == result.metrics["out_of_class"]["unknown_classes"]["test"][HELD_OUT]
    assert table.loc["species", "right"] == 0 and table.loc[["genus", "family"], "photos"].sum() > 0
    assert table.loc[["genus", "family"], "right"].sum() >= 0.9 * table.loc[["genus", "family"], "photos"].sum()
