r"""The study's data exploration as PNG plots and one CSV summary.

    python -m tools.explore DUMP_DIR --out DIR

Plots the joined table (one row per unique record with a readable image, before the
resolution/label/confidence/class filters): images per GBIF rank, the top resolutions,
images per family (top 30), images and observations per year, images per observation.
"""

from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from absl import app, flags  # noqa: E402

from pyck_tfds.console import quiet_python_logs  # noqa: E402
from pyck_tfds.dump import DumpError, check_manual_dir, join_records_images, read_metadata, scan_images  # noqa: E402
from pyck_tfds.dump.csv_export import is_csv_export  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Folder for the PNG plots and summary.csv.", required=True)
flags.DEFINE_integer("top", 30, "How many families and resolutions to show.", lower_bound=1)


def exploration_tables(joined: pd.DataFrame, top: int = 30) -> dict[str, pd.Series]:
    """Named count tables (pure pandas), one per plot."""
    resolution = joined["width"].astype(str) + "x" + joined["height"].astype(str)
    per_observation = joined.groupby("observation_id").size()
    return {
        "images_per_rank": joined["gbif_info.rank"].astype(object).fillna("(no match)").value_counts(),
        "top_resolutions": resolution.value_counts().head(top),
        "images_per_family": joined["gbif_info.family"].astype(object).dropna().value_counts().head(top),
        "images_per_year": joined["file_year"].astype("Int64").value_counts().sort_index(),
        "observations_per_year": joined.groupby("file_year")["observation_id"].nunique(),
        "observations_by_images_per_observation": per_observation.value_counts().sort_index(),
    }


def _bar(series: pd.Series, title: str, xlabel: str, path: str, horizontal: bool = False) -> None:
    fig, ax = plt.subplots(figsize=(9, max(4, 0.28 * len(series)) if horizontal else 4.5))
    labels = [str(k) for k in series.index]
    if horizontal:
        ax.barh(labels[::-1], series.to_numpy()[::-1], color="#8c5a2b")
        ax.set_xlabel("images")
    else:
        ax.bar(labels, series.to_numpy(), color="#8c5a2b")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("images")
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_exploration(tables: dict[str, pd.Series], out: str) -> list[str]:
    os.makedirs(out, exist_ok=True)
    written = []

    def save(name: str, *args, **kwargs) -> None:
        path = os.path.join(out, f"{name}.png")
        _bar(*args, path=path, **kwargs)
        written.append(path)

    save("images_per_rank", tables["images_per_rank"], "Images per GBIF rank", "rank")
    save("top_resolutions", tables["top_resolutions"], "Most common resolutions (width x height)", "resolution")
    save("images_per_family", tables["images_per_family"], "Images per family", "family", horizontal=True)

    years = pd.DataFrame({"images": tables["images_per_year"], "observations": tables["observations_per_year"]})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    years.plot.bar(ax=ax, color=["#8c5a2b", "#5b8c2b"])
    ax.set_title("Images and observations per year folder")
    ax.set_xlabel("year")
    fig.tight_layout()
    path = os.path.join(out, "images_and_observations_per_year.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    save("images_per_observation", tables["observations_by_images_per_observation"],
         "Observations by number of images", "images in the observation")

    rows = [
        {"table": name, "key": key, "count": int(value)}
        for name, series in tables.items()
        for key, value in series.items()
    ]
    path = os.path.join(out, "summary.csv")
    pd.DataFrame(rows).to_csv(path, index=False)
    written.append(path)
    return written


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise app.UsageError("expected exactly one argument, the dump folder: python -m tools.explore DUMP_DIR --out DIR")
    quiet_python_logs()
    if is_csv_export(argv[1]):
        print(f"error: {argv[1]} is a CSV export; tools.explore plots the 2017 scrape's GBIF columns. "
              f"`python -m pyck_tfds.inspect {argv[1]}` reads either.", file=sys.stderr)
        sys.exit(2)
    try:
        files = check_manual_dir(argv[1])
        images, _ = scan_images(argv[1])
        records, _ = read_metadata(argv[1], files)
    except DumpError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    joined = join_records_images(records, images)
    for path in write_exploration(exploration_tables(joined, FLAGS.top), FLAGS.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
