"""The image fetcher against a local HTTP server on 127.0.0.1: generated JPEGs, errors, slow answers, cut-short
bodies, an HTML page; what it requests, what it keeps, how fast it asks, and a resume after a kill."""

from __future__ import annotations

import errno
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from pyck_tfds.dump import DumpFilter
from pyck_tfds.dump.csv_export import read_csv_export
from tests.conftest import ROOT
from tools import mo_images
from tools.mo_images import Fetcher, RateLimiter, SiteRefused, fetch_images, images_to_fetch
from tools.sample_csv_export import make_sample_csv_export


class ImageServer(http.server.ThreadingHTTPServer):
    """Serves `/320/<id>.jpg` from `images`; `behaviour[id]` makes one image misbehave (a list: one per request)."""

    def __init__(self, images: dict[int, bytes]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.images, self.behaviour, self.requests = images, {}, []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server: ImageServer = self.server
        image_id = int(os.path.basename(self.path).split(".")[0])
        with server.lock:
            server.requests.append((time.monotonic(), image_id))
            plan = server.behaviour.get(image_id, [])
            how = plan.pop(0) if plan else "ok"
        if how == "slow":
            time.sleep(0.5)
        if image_id not in server.images or how == "missing":
            self.send_error(404)
            return
        if how == "error500":
            self.send_error(500)
            return
        if how == "html":
            body = b"<html><body>Too many requests: you have been blocked</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = server.images[image_id]
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if how == "truncated" else body)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A sample export whose images live only on the test server (its images/ folder emptied)."""
    manifest = make_sample_csv_export(str(tmp_path_factory.mktemp("export")), 10, seed=1)
    folder = os.path.join(manifest.out, "images")
    images = {int(name.split(".")[0]): open(os.path.join(folder, name), "rb").read() for name in os.listdir(folder)}
    shutil.rmtree(folder)
    return manifest, images


@pytest.fixture
def server(export):
    server = ImageServer(export[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def selection_of(export, **filter_changes) -> pd.DataFrame:
    records, _, _ = read_csv_export(export[0].out)
    options = {"min_per_class": 5, "min_confidence": 50.0, **filter_changes}
    return images_to_fetch(records, DumpFilter(**options))


def test_only_images_the_config_keeps_are_requested_and_none_not_ok_for_export(export, server, tmp_path):
    selection = selection_of(export)
    images = pd.read_csv(os.path.join(export[0].out, "images.csv"), sep="\t", dtype=str, quoting=3)
    not_ok = set(images.loc[images["ok_for_export"] == "0", "id"].astype(int))
    assert not_ok and not not_ok & set(selection["image_id"])
    assert set(selection["class_name"]) == set(export[0].families), "rare families have too few candidates"
    manifest = fetch_images(selection, str(tmp_path), Fetcher(server.url, rate=1000, backoff=0), progress=False)
    requested = {image_id for _, image_id in server.requests}
    assert requested == set(selection["image_id"]) and not requested & not_ok
    fetched = {int(name.split(".")[0]) for name in os.listdir(tmp_path)}
    assert fetched == set(manifest.loc[manifest["status"] == "downloaded", "image_id"])
    assert set(manifest.loc[manifest["status"] == "not_found", "image_id"]) == requested - set(export[1])
    assert manifest["attribution"].str.startswith("© ").all() and manifest["license"].ne("").all()


def test_errors_and_cut_short_bodies_are_retried_and_never_kept(export, server, tmp_path):
    ids = sorted(selection_of(export)["image_id"])[:4]
    server.behaviour = {ids[0]: ["error500", "error500"], ids[1]: ["truncated"], ids[2]: ["truncated"] * 3}
    selection = selection_of(export).set_index("image_id").loc[ids].reset_index()
    fetcher = Fetcher(server.url, rate=1000, retries=2, backoff=0.01)
    with pytest.raises(SiteRefused, match=f"{ids[2]}.jpg: still failing after 2 retries"):
        fetch_images(selection, str(tmp_path), fetcher, progress=False)
    assert sorted(os.listdir(tmp_path)) == [f"{ids[0]}.jpg", f"{ids[1]}.jpg"]
    for image_id in ids[:2]:
        assert open(tmp_path / f"{image_id}.jpg", "rb").read() == export[1][image_id]


def test_an_html_page_instead_of_a_jpeg_stops_the_run_and_is_not_kept(export, server, tmp_path):
    selection = selection_of(export).head(3)
    server.behaviour = {int(selection["image_id"][1]): ["html"]}
    with pytest.raises(SiteRefused, match="answered with a web page \\(text/html\\).*blocked"):
        fetch_images(selection, str(tmp_path), Fetcher(server.url, rate=1000, backoff=0), progress=False)
    assert os.listdir(tmp_path) == [f"{selection['image_id'][0]}.jpg"]


def test_a_write_that_fails_half_way_leaves_no_jpeg_and_the_rerun_completes_it(export, server, tmp_path, monkeypatch):
    """A full disk (or a kill) in the middle of writing an image: `<id>.jpg` appears only once it is whole."""
    selection = selection_of(export).head(2)
    real_open = open

    class HalfWritten:
        def __init__(self, file):
            self.file = file

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data: bytes):
            self.file.write(data[:len(data) // 2])
            self.file.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    def open_that_fails_mid_write(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        return HalfWritten(file) if "w" in mode else file

    monkeypatch.setattr(mo_images, "open", open_that_fails_mid_write, raising=False)
    with pytest.raises(OSError, match="No space left"):
        fetch_images(selection, str(tmp_path), Fetcher(server.url, rate=1000, backoff=0), progress=False)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".jpg")], os.listdir(tmp_path)
    monkeypatch.undo()
    manifest = fetch_images(selection, str(tmp_path), Fetcher(server.url, rate=1000, backoff=0), progress=False)
    assert manifest["status"].tolist() == ["downloaded", "downloaded"]
    for image_id in selection["image_id"]:
        assert (tmp_path / f"{image_id}.jpg").read_bytes() == export[1][int(image_id)]


def test_the_rate_limit_holds_between_request_starts(export, server, tmp_path):
    """Real time, with the bound the limiter's guarantee implies on any machine: request k (from 0) starts, and
    so reaches the server (same process, same monotonic clock), no sooner than k / rate after the call."""
    selection = selection_of(export).head(6)
    called = time.monotonic()
    fetch_images(selection, str(tmp_path), Fetcher(server.url, rate=8.0, backoff=0), progress=False)
    arrivals = [t - called for t, _ in server.requests]
    assert len(arrivals) == 6 and all(t >= k / 8.0 for k, t in enumerate(arrivals)), arrivals


class FakeClock:
    """A monotonic clock that moves only when slept on or told to; `early` sleeps end before their time."""

    def __init__(self, early: int = 0):
        self.now, self.early, self.slept = 0.0, early, []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.early:  # wakes after half the time, as a signal or a coarse timer can make it
            self.early -= 1
            seconds /= 2
        self.now += seconds


def starts_of(limiter: RateLimiter, clock: FakeClock, work: list[float]) -> list[float]:
    """The clock's time at each request start, the caller busy for `work[i]` seconds after start i."""
    starts = []
    for busy in [*work, 0.0]:
        limiter.wait()
        starts.append(clock.now)
        clock.now += busy
    return starts


@pytest.mark.parametrize("early", [0, 3])
def test_request_starts_are_never_closer_than_one_over_the_rate(early):
    clock = FakeClock(early)
    limiter = RateLimiter(8.0, clock=lambda: clock.now, sleep=clock.sleep)
    work = [n / 64 for n in (0, 1, 13, 7, 9, 0, 64, 4)]  # binary fractions: the clock's sums are exact
    starts = starts_of(limiter, clock, work)
    assert all(later >= earlier + 1 / 8.0 for earlier, later in zip(starts, starts[1:])), starts
    # It waits only what is left: a start comes 1/rate after the previous one, or at once when the caller is late.
    expected = [0.0]
    for busy in work:
        expected.append(max(expected[-1] + 1 / 8.0, expected[-1] + busy))
    assert starts == expected


def test_rate_limiter_waits_only_what_is_left():
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=lambda: clock.now, sleep=clock.sleep)
    limiter.wait()
    clock.now += 0.2
    limiter.wait()
    clock.now += 1.0
    limiter.wait()
    assert clock.slept == pytest.approx([0.3])


@pytest.mark.slow
def test_a_killed_run_resumes_without_fetching_anything_twice(export, server, tmp_path):
    out, csv_dir = tmp_path / "images", export[0].out
    slow = {int(i): ["slow"] for i in selection_of(export, min_per_class=1)["image_id"]}
    server.behaviour = dict(slow)
    command = [sys.executable, "-m", "tools.fetch_mo_images", f"--csv_dir={csv_dir}", f"--out={out}",
               "--config=family7_csv_sample", f"--base_url={server.url}", "--rate=100", "--backoff=0",
               "--noprogress"]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len([f for f in os.listdir(out) if f.endswith(".jpg")] if out.exists()
                                                else []) < 5:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_first = {int(f.split(".")[0]) for f in os.listdir(out) if f.endswith(".jpg")}
    assert len(done_first) >= 5
    for name in os.listdir(out):
        if name.endswith(".jpg"):
            assert open(out / name, "rb").read() == export[1][int(name.split(".")[0])], "a partial file kept"
    before = len(server.requests)
    server.behaviour = {}
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    again = [image_id for _, image_id in server.requests[before:]]
    assert not set(again) & done_first, "images finished before the kill were fetched again"
    assert len(again) == len(set(again))
    manifest = pd.read_csv(os.path.join(csv_dir, "fetch_manifest.csv"))
    assert set(manifest.loc[manifest["status"] == "already_there", "image_id"]) == done_first
