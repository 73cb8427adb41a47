"""What a read of the dump kept and set aside, as a dict (for JSON) and as a text table."""

from __future__ import annotations

import dataclasses

from pyck_tfds.dump import sources
from pyck_tfds.dump.filters import DumpFilter, Funnel
from pyck_tfds.dump.metadata import JsonFileReport
from pyck_tfds.dump.splits import SPLITS


@dataclasses.dataclass
class DumpReport:
    manual_dir: str
    source: str  # scrape_2017 | csv_export
    source_facts: dict  # what the CSV export says beside the funnel (observations without images, ...)
    dump_filter: DumpFilter
    seed: int
    json_files: list[JsonFileReport]
    image_scan: dict
    funnel: Funnel
    class_counts: dict[str, dict[str, int]]  # split -> class name -> images
    observation_counts: dict[str, int]  # split -> observations
    seconds: float = 0.0

    @property
    def classes(self) -> list[str]:
        return sorted({name for counts in self.class_counts.values() for name in counts})

    def to_dict(self) -> dict:
        return {
            "manual_dir": self.manual_dir,
            "source": self.source,
            "source_facts": self.source_facts,
            "filter": dataclasses.asdict(self.dump_filter),
            "seed": self.seed,
            "records_in": self.funnel.records_in,
            "kept": self.funnel.kept,
            "skipped": self.funnel.skip_counts(),
            "funnel": [dataclasses.asdict(step) for step in self.funnel.steps],
            "json_files": [dataclasses.asdict(report) for report in self.json_files],
            "json_records_lost_in_truncated_files": sum(r.lost_records for r in self.json_files),
            "image_scan": self.image_scan,
            "classes": self.classes,
            "class_counts": self.class_counts,
            "split_sizes": {split: sum(self.class_counts[split].values()) for split in SPLITS},
            "observation_counts": self.observation_counts,
            "seconds": round(self.seconds, 3),
        }

    def to_text(self) -> str:
        kind = sources.source_named(self.source).description
        lines = [f"Mushroom Observer dump ({kind}): {self.manual_dir}", "", "Filter funnel (rows after each step):"]
        for step in self.funnel.steps:
            skipped = ", ".join(f"{k}={v}" for k, v in step.skipped.items())
            lines.append(f"  {step.step:<40} {step.rows:>9,}" + (f"   skipped: {skipped}" if skipped else ""))
        skips = self.funnel.skip_counts()
        lines += [
            "",
            f"Records in {self.funnel.records_in:,} = kept {self.funnel.kept:,} + skipped {sum(skips.values()):,}",
            "Skipped per reason:",
            *[f"  {reason:<28} {n:>9,}" for reason, n in sorted(skips.items(), key=lambda kv: -kv[1])],
        ]
        damaged = [r for r in self.json_files if r.status != "ok"]
        if damaged:
            lines += ["", "Metadata files cut short by an interrupted scrape (complete records kept):"]
            lines += [
                f"  {r.file}: {r.status} at byte {r.byte_offset}, ~{r.lost_records} record(s) lost ({r.lost_bytes} bytes)"
                for r in damaged
            ]
        if self.source_facts:
            lines += ["", sources.source_named(self.source).facts_text(self.source_facts)]
        scan = self.image_scan
        lines += [
            "",
            f"Image files: {scan['image_files']:,}; duplicate ids: {scan['duplicate_image_file']:,}; "
            f"without a record: {scan['orphan_images']:,}; other files ignored: {scan['ignored_files_by_suffix']}",
            "",
            "Images per class and split:",
            f"  {'class':<28}" + "".join(f"{s:>12}" for s in SPLITS) + f"{'total':>10}",
        ]
        for name in self.classes:
            row = [self.class_counts[s].get(name, 0) for s in SPLITS]
            lines.append(f"  {name:<28}" + "".join(f"{n:>12,}" for n in row) + f"{sum(row):>10,}")
        totals = [sum(self.class_counts[s].values()) for s in SPLITS]
        lines.append(f"  {'images':<28}" + "".join(f"{n:>12,}" for n in totals) + f"{sum(totals):>10,}")
        lines.append(f"  {'observations':<28}" + "".join(f"{self.observation_counts[s]:>12,}" for s in SPLITS))
        lines += ["", f"Read in {self.seconds:.1f} s."]
        return "\n".join(lines)
