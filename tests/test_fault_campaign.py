"""Issue 26's fault-injection campaign, short: seeded SIGKILLs and SIGINTs anywhere in `python -m pyck_train`."""

from __future__ import annotations

import pytest

from tests.conftest import BUILT_DATASET
from tools import fault_campaign

pytestmark = pytest.mark.slow

# The quickstart's path (frozen base, head on cached features) on a small backbone: every fault point in ~20 s.
FLAGS = ["--backbone=mobilenet_v3_small", "--weights=none", "--strategy=frozen", "--cache_features", "--epochs=4",
         "--train_subset=32", "--batch_size=8", "--steps_per_epoch=0", "--head=dense:16,dropout:0.25",
         "--runtime=keras"]
TRIALS = 20


def test_twenty_faults_in_chains_end_on_the_uninterrupted_runs_record(built_data_dir, tmp_path):
    lines = []
    results, defects = fault_campaign.campaign([f"--dataset={BUILT_DATASET}", f"--data_dir={built_data_dir}", *FLAGS],
                                               str(tmp_path), TRIALS, faults_per_chain=4, seed=0, log=lines.append)
    faults = [trial for trial in results if not trial.fault.startswith("none")]
    assert len(faults) == TRIALS and defects == [], "\n".join(lines)
    # Exact, never refused: every chain ends equal to the reference run.
    finals = {trial.chain: trial.outcome for trial in results}
    assert set(finals.values()) == {"finished, equal to the reference"}, "\n".join(lines)
    assert sum(trial.outcome.startswith("killed") for trial in faults) >= TRIALS // 2, "\n".join(lines)
    print("\n".join(lines))
