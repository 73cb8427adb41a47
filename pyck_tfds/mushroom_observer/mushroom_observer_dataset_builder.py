"""mushroom_observer: Mushroom Observer photos with GBIF family/genus/species labels."""

from __future__ import annotations

import collections
import json

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from pyck_tfds import tfds_cli
from pyck_tfds.built_datasets import DatasetNotBuiltError, not_built_message
from pyck_tfds.dump import (
    EXPECTED_LAYOUT,
    LAYOUT_HELP,
    SPLITS,
    DumpError,
    check_manual_dir,
    class_names,
    dump_source,
    load_dump,
    sources,
)
from pyck_tfds.mushroom_observer import configs, examples

REPORT_FILE = "build_report.json"
FEATURE_OF_KIND = {"float": np.float32, "id": np.int64, "text": tfds.features.Text()}


tfds_cli.install_error_hook([config.name for config in configs.BUILDER_CONFIGS])


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for the Mushroom Observer dump (manual download)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: observation-grouped 64/16/20 splits, build report."}
    BUILDER_CONFIGS = configs.BUILDER_CONFIGS
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Download the Mushroom Observer research dump ("mushroomobser-dataset": 11 image folders,
one per year 2006-2016, about 5 GB of JPEGs, and 12 metadata JSON files, about 440 MB)
and lay it out under one folder, which you pass as --manual_dir:

{EXPECTED_LAYOUT}

Check it first with `python -m pyck_tfds.inspect DUMP` (prints the filter funnel without
building). No dump at hand? `python -m tools.make_sample_dump --out DUMP` writes a small
one in the same layout; build it with --config=family7_sample.

The *_csv configs read today's site instead: its nightly CSV export plus the images
`python -m tools.fetch_mo_images --csv_dir DUMP` downloads (BUILD.md, section 2b).
"""

    def _info(self) -> tfds.core.DatasetInfo:
        features = {
            "image": tfds.features.Image(shape=(*configs.IMAGE_SIZE, 3), encoding_format="jpeg"),
            # Names (sorted alphabetically) are set from the dump in `_split_generators`.
            "label": tfds.features.ClassLabel(),
            "image_id": np.int64,
            "observation_id": np.int64,
            "is_thumbnail": np.bool_,
            "date": tfds.features.Text(),
            "year": np.int32,
            "family": tfds.features.Text(),
            "genus": tfds.features.Text(),
            "species": tfds.features.Text(),
            "location_id": np.int64,
        }
        source = sources.source_named(self.builder_config.source)
        features.update({feature.name: FEATURE_OF_KIND[feature.kind] for feature in source.extra_features})
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            supervised_keys=("image", "label"),
            homepage="https://mushroomobserver.org",
        )

    def is_prepared(self) -> bool:
        """As tfds's, without its "Variant folder ... has no dataset_info.json" warning before every first build."""
        return self.data_path.exists() and super().is_prepared()

    def _make_download_manager(self, download_dir, download_config):
        """As tfds's, with a missing dump said before TFDS makes any folder.

        A --manual_dir given is checked first (pyck's one-line reason, not TFDS's instructions).
        Without one and no dump in the default folder, `tfds build` asks for --manual_dir, while
        `tfds.load(..., data_dir=WRONG)`, which tries to build what it cannot find, says the config
        is not built there: then the likely mistake is the data_dir. The dump is read and filtered
        here too, so a refusal of its content (malformed metadata, filters that keep nothing) also
        comes before TFDS writes anything. Nothing is left behind.
        """
        download_dir = epath.Path(download_dir or self.data_dir_root / "downloads")
        new_folders = [d for d in (download_dir / "extracted", *(download_dir / "extracted").parents) if not d.exists()]
        if download_config.manual_dir:
            check_manual_dir(str(download_config.manual_dir))  # before TFDS makes any folder
            self._selection = self._read_dump(str(download_config.manual_dir))
            return super()._make_download_manager(download_dir, download_config)
        dl_manager = super()._make_download_manager(download_dir, download_config)
        try:
            dl_manager.manual_dir  # noqa: B018 (tfds checks it exists and is not empty)
            self._selection = self._read_dump(str(dl_manager.manual_dir))
        except (AssertionError, DumpError) as error:
            for folder in new_folders:  # the download manager made them, innermost first; they are empty
                folder.rmdir()
            if isinstance(error, DumpError):
                raise
            if tfds_cli.running_tfds_cli():  # `tfds build` itself: the dump is what is missing
                raise DumpError(f"tfds build of {self.name}/{self.builder_config.name} needs --manual_dir=DUMP, "
                                f"the dump's folder ({LAYOUT_HELP}; no dump at hand: `python -m "
                                "tools.make_sample_dump --out DUMP` and --config=family7_sample)") from None
            raise DatasetNotBuiltError(not_built_message(f"{self.name}/{self.builder_config.name}",
                                                         str(self.data_dir_root))) from None
        return dl_manager

    def _generate_splits(self, dl_manager, download_config):
        # Beam only when the user asked for it (--beam_pipeline_options or a runner).
        self._use_beam = download_config.beam_runner is not None or download_config.beam_options is not None
        return super()._generate_splits(dl_manager, download_config)

    def _read_dump(self, manual_dir: str):
        """The config's selection of the dump in `manual_dir`; a dump of the wrong kind is refused."""
        config = self.builder_config
        found, wanted = sources.source_named(dump_source(manual_dir)), sources.source_named(config.source)
        if found != wanted:
            raise DumpError(f"config {config.name} reads the {wanted.description}, but {manual_dir} holds "
                            f"the {found.description}: choose a config made for it (the dataset's README lists "
                            "them)")
        return load_dump(manual_dir, config.dump_filter, seed=config.split_seed)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        manual_dir = str(dl_manager.manual_dir)
        selection = self._selection  # read by _make_download_manager, before TFDS wrote anything
        wanted = sources.source_named(config.source)
        self.info.features["label"].names = class_names(selection.examples)
        report = selection.report.to_dict()
        report["build_skipped"] = {}
        report.update(wanted.report_extras(selection.examples))
        self._write_report(report)
        self.info.as_proto.description += "\n\n" + _description_summary(report)
        return {
            split: self._generate_examples(examples.example_rows(selection.split(split), selection.source),
                                           manual_dir, split)
            for split in SPLITS
        }

    def _generate_examples(self, rows: list[dict], manual_dir: str, split: str):
        size = configs.IMAGE_SIZE
        if getattr(self, "_use_beam", False):
            beam = tfds.core.lazy_imports.apache_beam
            return (
                f"Create {split}" >> beam.Create(rows)
                | f"Examples {split}" >> beam.FlatMap(examples.beam_examples, manual_dir=manual_dir, size=size)
            )
        return self._python_examples(rows, manual_dir, size)

    def _python_examples(self, rows, manual_dir, size):
        skipped = collections.Counter()
        for row in rows:
            try:
                yield examples.make_example(row, manual_dir, size)
            except examples.SkipExample as skip:
                skipped[skip.reason] += 1
        self._add_build_skips(skipped)

    def _process_pipeline_result(self, pipeline_result) -> None:
        """Collect the Beam skip counters into the report (workers cannot write to `self`)."""
        if pipeline_result is None:
            return
        beam = tfds.core.lazy_imports.apache_beam
        query = beam.metrics.MetricsFilter().with_namespace(examples.SKIP_COUNTER_NAMESPACE)
        counters = pipeline_result.metrics().query(query)["counters"]
        self._add_build_skips(collections.Counter({c.key.metric.name: c.committed for c in counters}))

    def _report_path(self) -> epath.Path:
        return epath.Path(self.data_path) / REPORT_FILE

    def _write_report(self, report: dict) -> None:
        self._report_path().write_text(json.dumps(report, indent=2))

    def _add_build_skips(self, skipped: collections.Counter) -> None:
        if not skipped:
            return
        report = json.loads(self._report_path().read_text())
        merged = collections.Counter(report["build_skipped"]) + skipped
        report["build_skipped"] = dict(sorted(merged.items()))
        self._write_report(report)


def _description_summary(report: dict) -> str:
    skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(report["skipped"].items(), key=lambda kv: -kv[1])) or "none"
    sizes = ", ".join(f"{k} {v:,}" for k, v in report["split_sizes"].items())
    summary = (
        f"Build report: {report['records_in']:,} metadata records in, {report['kept']:,} images kept "
        f"({sizes}); skipped: {skipped}. Classes: {', '.join(report['classes'])}. "
        f"Full funnel and class counts per split: {REPORT_FILE} next to the dataset files."
    )
    if "licenses" in report:
        counts = ", ".join(f"{k} {v:,}" for k, v in report["licenses"].items())
        summary += (f"\n\nLicences of the images kept: {counts}. Each example carries its `license` and "
                    "`copyright_holder`: credit the holder when you show or pass on an image.")
    return summary
