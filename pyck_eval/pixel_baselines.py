"""The study's non-CNN baselines: RandomForest and XGBoost on downscaled raw pixels.

Optional Optuna search of each model's main hyper-parameters on the VALIDATION split.
"""

from __future__ import annotations

import numpy as np
import optuna
import tensorflow as tf
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from tqdm.auto import tqdm

from pyck_classifier.data.input_pipeline import load_split, parse_record
from pyck_classifier.model.image_preprocessing import decode_image
from pyck_eval import feature_models


def pixel_matrix(dataset: str, split: str, data_dir: str | None, size: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(n, h*w*3) float32 pixels in [0, 1] of every image of the split, area-downscaled, and the labels."""
    def pixels_and_label(serialized):
        encoded, label = parse_record(serialized)
        return tf.image.resize(decode_image(encoded), size, method="area") / 255.0, label

    ds, _ = load_split(dataset, split, data_dir)
    ds = ds.map(pixels_and_label, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(256)
    pixels, labels = [], []
    for images, batch_labels in tqdm(ds, desc=f"pixels {split}", unit="batch"):
        pixels.append(tf.reshape(images, (images.shape[0], -1)).numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(pixels).astype(np.float32), np.concatenate(labels)


def random_forest(seed: int = 0, **params) -> ClassifierMixin:
    return RandomForestClassifier(**{"n_estimators": 300, "n_jobs": 2, "random_state": seed, **params})


def suggest(trial: optuna.Trial, kind: str) -> dict:
    if kind == "random_forest":
        return {"n_estimators": trial.suggest_int("n_estimators", 100, 600, step=100),
                "max_depth": trial.suggest_int("max_depth", 4, 32, log=True),
                "max_features": trial.suggest_float("max_features", 0.01, 0.3, log=True)}
    return {"n_estimators": trial.suggest_int("n_estimators", 100, 500, step=100),
            "max_depth": trial.suggest_int("max_depth", 2, 8),
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True)}


def build(kind: str, seed: int, params: dict) -> ClassifierMixin:
    return random_forest(seed, **params) if kind == "random_forest" else feature_models.xgboost(seed, **params)


def search(kind: str, train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray],
           n_trials: int, seed: int = 0) -> tuple[dict, optuna.Study]:
    """Best params of `kind` by validation accuracy over `n_trials` TPE trials."""
    def objective(trial: optuna.Trial) -> float:
        model = build(kind, seed, suggest(trial, kind)).fit(*train)
        return accuracy_score(validation[1], model.predict(validation[0]))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials)
    return study.best_params, study


def importance_map(model: ClassifierMixin, size: tuple[int, int]) -> np.ndarray:
    """The model's feature importances as an (h, w) map, summed over the colour channels."""
    return np.asarray(model.feature_importances_).reshape(*size, 3).sum(axis=2)
