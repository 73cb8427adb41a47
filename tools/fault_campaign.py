r"""Kill `python -m pyck_train` at seeded random moments, rerun the same command, and check it ends on the
uninterrupted run's metrics.json and history, or refuses in one line.

    python -m tools.fault_campaign --out=DIR [--trials=20 --faults_per_chain=4 --seed=0] -- PYCK_TRAIN_FLAGS

A moment is the n-th call of one of pyck's fault points in a run: a weights file's variable
being written (a backup, the best checkpoint, a finished phase, model.keras), a rename into
place, a training batch, an epoch's end before its callbacks, a batch of feature extraction /
calibration / evaluation, the calibration fit and the SavedModel export. Each point is drawn
from the uninterrupted run's own count. The signal is SIGKILL (nothing cleans up) or SIGINT
(Ctrl-C). A chain kills one model_dir `faults_per_chain` times in a row (each rerun may be
killed again), then reruns it to the end. After every kill, a metrics.json there must already be
the final one: no folder looks finished when it is not. Prints one line per trial and a summary;
exits 1 if any run ended different (or a refusal was not one line). `tests/test_fault_campaign.py`
runs a short campaign.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
from absl import app, flags

from pyck_tfds.options import CheckedOptions, define_flags, option, options_from_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # `python -m tools...` runs from here
FAULT_POINTS = ("weights_write", "rename", "train_batch", "epoch_end", "predict_batch", "calibration", "export")
KILLED = {-signal.SIGKILL: "SIGKILL", 130: "SIGINT"}


# ---- inside a launched run ------------------------------------------------------------------------------------

def _install(fault: str | None, census_path: str | None) -> None:
    """Counts every fault point's calls; at `fault` ("point:n:signal") sends the signal there."""
    import h5py
    import keras

    from pyck_classifier.model import feature_extraction
    from pyck_classifier.posthoc.calibration import Calibration

    point, nth, how = (fault.split(":") if fault else (None, "0", None))
    counts = dict.fromkeys(FAULT_POINTS, 0)
    # A Ctrl-C from a terminal raises KeyboardInterrupt; a process a script started with `&` inherits SIGINT
    # ignored, and would then not be interrupted at all: the campaign tests what the terminal user gets.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def counted(name, original):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            if name == point and counts[name] == int(nth):
                os.kill(os.getpid(), signal.SIGKILL if how == "SIGKILL" else signal.SIGINT)
            return original(*args, **kwargs)
        return wrapper

    targets = [("weights_write", h5py.Group, "create_dataset"), ("rename", os, "replace"),
               ("train_batch", keras.callbacks.CallbackList, "on_train_batch_end"),
               ("epoch_end", keras.callbacks.CallbackList, "on_epoch_end"),
               ("predict_batch", feature_extraction, "_predict_padded"),
               ("export", keras.Model, "export")]
    for name, owner, attribute in targets:
        setattr(owner, attribute, counted(name, getattr(owner, attribute)))
    Calibration.fit = classmethod(counted("calibration", Calibration.fit.__func__))
    if census_path:
        import atexit
        atexit.register(lambda: open(census_path, "w").write(json.dumps(counts)))


def launched_run(argv: list[str]) -> None:
    """`python -m tools.fault_campaign launch FAULT|- CENSUS|- PYCK_TRAIN_FLAGS...`: pyck_train's own main."""
    fault, census = (None if value == "-" else value for value in argv[2:4])
    import pyck_train.__main__ as command

    _install(fault, census)
    command.train_flags.mark_required()
    app.run(command.main, argv=["pyck_train", *argv[4:]])


# ---- the campaign --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Launch:
    fault: str | None
    status: int
    last_line: str
    seconds: float


def launch(flags: list[str], fault: str | None, census: str | None = None) -> Launch:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "tools.fault_campaign", "launch", fault or "-", census or "-",
                             *flags], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = result.stderr.strip().splitlines()
    return Launch(fault, result.returncode, lines[-1] if lines else "", time.perf_counter() - start)


def run_record(model_dir: str) -> dict:
    """What must not differ: metrics.json and every phase's history."""
    record = {"metrics": json.load(open(os.path.join(model_dir, "metrics.json")))}
    for path in sorted(glob.glob(os.path.join(model_dir, "history_*.csv"))):
        record[os.path.basename(path)] = open(path).read()
    return record


def differences(record: dict, reference: dict, where: str = "") -> list[str]:
    """Keys whose values differ (floats beyond 1e-6 relative: the same computation, in another process)."""
    if isinstance(reference, dict) and isinstance(record, dict):
        if record.keys() != reference.keys():
            return [f"{where}: keys {sorted(set(record) ^ set(reference))}"]
        return [d for key in reference for d in differences(record[key], reference[key], f"{where}.{key}")]
    if isinstance(reference, str) and "\n" in reference:  # a history CSV
        return [] if _same_csv(record, reference) else [where]
    if isinstance(reference, float) and isinstance(record, float):
        return [] if np.isclose(record, reference, rtol=1e-6, atol=1e-9, equal_nan=True) else [where]
    return [] if record == reference else [where]


def _same_csv(text: str, reference: str) -> bool:
    rows, expected = [t.strip().splitlines() for t in (text, reference)]
    if len(rows) != len(expected) or rows[:1] != expected[:1]:
        return False
    values = [np.array([[float(v) for v in row.split(",")] for row in lines[1:]]) for lines in (rows, expected)]
    return values[0].shape == values[1].shape and bool(np.allclose(values[0], values[1], rtol=1e-6, atol=1e-9))


def draw_fault(rng: np.random.Generator, census: dict[str, int]) -> str:
    """A point (each alike: a rare one matters as much), one of its calls in the reference run, and a signal."""
    points = [p for p in FAULT_POINTS if census.get(p, 0) > 0]
    point = points[rng.integers(len(points))]
    return f"{point}:{rng.integers(1, census[point] + 1)}:{('SIGKILL', 'SIGINT')[rng.integers(2)]}"


@dataclasses.dataclass
class Trial:
    chain: int
    fault: str
    outcome: str  # killed, finished before the fault, refused: <line>, or a defect


def campaign(flags: list[str], out: str, trials: int, faults_per_chain: int, seed: int,
             log=print) -> tuple[list[Trial], list[str]]:
    """Runs the reference, then chains of faults; returns every trial and every defect found."""
    os.makedirs(out, exist_ok=True)
    census_path = os.path.join(out, "census.json")
    reference_dir = os.path.join(out, "reference")
    first = launch([*flags, f"--model_dir={reference_dir}"], None, census_path)
    if first.status != 0:
        raise RuntimeError(f"the uninterrupted run failed: {first.last_line}")
    census, reference = json.load(open(census_path)), run_record(reference_dir)
    log(f"reference run: {first.seconds:.0f} s; fault points counted: {census}")
    rng, results, defects = np.random.default_rng(seed), [], []

    def tried(chain: int, fault: str | None, model_dir: str, label: str) -> Launch:
        """One launch on `model_dir`: its outcome recorded, logged, and kept among the defects when it is one."""
        done = launch([*flags, f"--model_dir={model_dir}"], fault)
        outcome = _outcome(done, model_dir, reference_dir, reference)
        results.append(Trial(chain, fault or "none (rerun to the end)", outcome))
        if outcome.startswith("DEFECT"):
            defects.append(f"chain {chain}, {fault or 'rerun to the end'}: {outcome}")
        log(f"{label}  chain {chain}  {fault or 'rerun to the end':<26} {outcome}  ({done.seconds:.0f} s)")
        return done

    chain, faults = 0, 0
    while faults < trials:
        model_dir = os.path.join(out, f"chain_{chain}")
        shutil.rmtree(model_dir, ignore_errors=True)
        for _ in range(min(faults_per_chain, trials - faults)):
            faults += 1
            if tried(chain, draw_fault(rng, census), model_dir, f"trial {faults:3d}").status == 0:
                break  # the fault came after the run's end: the chain is over
        else:
            tried(chain, None, model_dir, " " * 9)
        chain += 1
    return results, defects


def _looks_finished_but_is_not(model_dir: str, reference_dir: str, reference: dict) -> list[str]:
    """With a metrics.json (what `report` takes for a finished run): what differs from the finished reference."""
    if not os.path.exists(os.path.join(model_dir, "metrics.json")):
        return []
    found = differences(run_record(model_dir), reference)
    missing = sorted(set(os.listdir(reference_dir)) - set(os.listdir(model_dir)) - {"index.html"})  # a page of it
    model = os.path.join(model_dir, "model.keras")  # a zip: a cut one fails its check (its size may differ anyway:
    broken = [] if missing or (zipfile.is_zipfile(model) and zipfile.ZipFile(model).testzip() is None) else [
        "model.keras is not whole"]  # it holds the optimizer's state only when the last phase ran in this process)
    return found + [f"missing {name}" for name in missing] + broken


def _outcome(done: Launch, model_dir: str, reference_dir: str, reference: dict) -> str:
    if done.status in KILLED:
        wrong = _looks_finished_but_is_not(model_dir, reference_dir, reference)
        return f"DEFECT: killed by {KILLED[done.status]}, and the folder looks finished: {wrong[:3]}" if wrong \
            else f"killed ({KILLED[done.status]})"
    if done.status == 0:
        found = (_looks_finished_but_is_not(model_dir, reference_dir, reference)
                 if os.path.exists(os.path.join(model_dir, "metrics.json")) else ["no metrics.json"])
        return "finished, equal to the reference" if not found else f"DEFECT: finished but differs in {found[:3]}"
    if done.last_line.startswith("error: ") and "Traceback" not in done.last_line:
        return f"refused: {done.last_line}"
    return f"DEFECT: exit {done.status}: {done.last_line}"


@dataclasses.dataclass(frozen=True)
class CampaignOptions(CheckedOptions):
    out: str = option(help="Folder of the campaign's runs (the reference and one model_dir per chain).")
    trials: int = option(20, "Faults in all.", lower=1)
    faults_per_chain: int = option(4, "Faults in a row on one model_dir before it is rerun to the end.", lower=1)
    seed: int = option(0, "Seed of the draws of fault points, calls and signals.")


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError("give the pyck_train flags after `--`")
    options = options_from_flags(CampaignOptions)
    results, defects = campaign(argv[1:], options.out, options.trials, options.faults_per_chain, options.seed)
    faults = [trial for trial in results if not trial.fault.startswith("none")]
    outcomes = collections.Counter(trial.outcome.split(":")[0].split(" (")[0] for trial in faults)
    reruns = collections.Counter(trial.outcome.split(":")[0] for trial in results if trial.fault.startswith("none"))
    print(f"{len(faults)} faults: {dict(outcomes)}; reruns to the end: {dict(reruns)}; defects: {len(defects)}")
    for defect in defects:
        print(f"  {defect}")
    sys.exit(1 if defects else 0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["launch"]:
        launched_run(sys.argv)
    else:
        define_flags(CampaignOptions)
        flags.mark_flag_as_required("out")
        app.run(main)
