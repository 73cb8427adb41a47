"""Fetch Mushroom Observer images politely: what to fetch, a rate limiter, retries, complete JPEGs only.

The command line is `tools.fetch_mo_images`; see its docstring for the behaviour users see.
"""

from __future__ import annotations

import dataclasses
import http.client
import os
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

BASE_URL = "https://mushroomobserver.org/images"
SIZES = {160: "thumb", 320: "320", 640: "640", 960: "960", 1280: "1280"}
SITE_RATE = 20 / 60  # requests per second: Mushroom Observer's limit for anonymous clients
MANIFEST = "fetch_manifest.csv"
USER_AGENT = "pyck tools.fetch_mo_images (dataset build, rate-limited to the site's stated limit)"
_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
RETRYABLE_STATUS = (408, 425, 429, 500, 502, 503, 504)


class SiteRefused(Exception):
    """The site answered with something that is not an image: stop, do not hammer it."""


class NotAnImage(Exception):
    """A body that is not a complete JPEG (cut short on the way): retried."""


def is_complete_jpeg(data: bytes) -> bool:
    return data[:2] == _JPEG_START and _JPEG_END in data[-4096:]


def complete_jpeg_on_disk(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(max(0, os.path.getsize(path) - 4096))
            return head == _JPEG_START and _JPEG_END in f.read()
    except OSError:
        return False


def images_to_fetch(records: pd.DataFrame, dump_filter, max_per_class: int | None = None,
                    seed: int = 0) -> pd.DataFrame:
    """The records the filter can keep, as if every image came back a readable JPEG at the filter's size.

    The builder's own funnel (`select_examples`) decides, over an assumed image table, so the fetch and
    the build never disagree on names, votes, licences and classes.
    """
    from pyck_tfds.dump import select_examples

    width, height = dump_filter.resolutions[0] if dump_filter.resolutions else (320, 240)
    ids = records["image_id"].dropna().unique()
    assumed = pd.DataFrame({
        "image_id": pd.array(ids, dtype="Int64"), "file_path": [f"{i}.jpg" for i in ids],
        "file_year": pd.array([pd.NA] * len(ids), dtype="Int16"), "format": "JPEG", "width": width,
        "height": height, "mode": "RGB", "problem": pd.Series([None] * len(ids), dtype=object), "file_size": 1,
    }).astype({"format": "category", "mode": "category", "problem": "category",
               "width": "Int32", "height": "Int32"})
    kept, _, _ = select_examples(records, assumed, dump_filter)
    if max_per_class is not None:
        rng = np.random.default_rng(seed)
        kept = kept.iloc[rng.permutation(len(kept))]
        kept = kept.groupby("class_name", sort=True, observed=True).head(max_per_class)
        kept = kept.sort_values("image_id", kind="stable")
    return kept.reset_index(drop=True)


@dataclasses.dataclass
class RateLimiter:
    """Request starts at least 1/rate seconds apart on a monotonic clock, so never more than `rate` a second.

    `wait()` returns only once the clock has reached the previous start plus 1/rate: a sleep that ends early
    (a signal, a coarse timer) is followed by another, never by a request.
    """

    rate: float
    clock: callable = time.monotonic
    sleep: callable = time.sleep
    last: float | None = None

    def wait(self) -> None:
        if self.last is not None:
            due = self.last + 1.0 / self.rate
            while (now := self.clock()) < due:
                self.sleep(due - now)
        self.last = self.clock()


@dataclasses.dataclass
class Fetcher:
    base_url: str = BASE_URL
    size: int = 320
    rate: float = SITE_RATE
    retries: int = 4
    backoff: float = 10.0  # seconds before the first retry; doubled each time
    timeout: float = 60.0

    def __post_init__(self):
        self.limiter = RateLimiter(self.rate)

    def url(self, image_id: int) -> str:
        return f"{self.base_url.rstrip('/')}/{SIZES[self.size]}/{image_id}.jpg"

    def _get(self, url: str) -> bytes:
        self.limiter.wait()
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            kind = response.headers.get("Content-Type", "")
            data = response.read()
        if "html" in kind.lower() or data[:200].lstrip().lower().startswith((b"<!doctype", b"<html")):
            raise SiteRefused(f"{url} answered with a web page ({kind or 'no content type'}), not a JPEG: "
                              f"{data[:160].decode('utf-8', 'replace')!r}")
        if not is_complete_jpeg(data):
            raise NotAnImage(f"{url}: {len(data)} bytes that are not a complete JPEG")
        return data

    def download(self, image_id: int, path: str) -> str:
        """`downloaded` or `not_found`; raises `SiteRefused` when the site says no."""
        url = self.url(image_id)
        for attempt in range(self.retries + 1):
            try:
                data = self._get(url)
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    return "not_found"
                if err.code not in RETRYABLE_STATUS or attempt == self.retries:
                    raise SiteRefused(f"{url} answered HTTP {err.code} {err.reason}") from None
                wait = float(err.headers.get("Retry-After") or 0) if err.headers else 0.0
                time.sleep(max(wait, self.backoff * 2 ** attempt))
                continue
            except (NotAnImage, urllib.error.URLError, http.client.HTTPException, TimeoutError,
                    ConnectionError) as err:
                if attempt == self.retries:
                    raise SiteRefused(f"{url}: still failing after {self.retries} retries ({err})") from None
                time.sleep(self.backoff * 2 ** attempt)
                continue
            partial = path + ".part"
            with open(partial, "wb") as f:
                f.write(data)
            os.replace(partial, path)
            return "downloaded"
        raise AssertionError("unreachable")


MANIFEST_COLUMNS = ["image_id", "class_name", "status", "license", "copyright_holder", "url", "attribution"]


def fetch_images(selection: pd.DataFrame, out: str, fetcher: Fetcher, *, progress: bool = True,
                 rows: list | None = None) -> pd.DataFrame:
    """Download what `selection` lists into `out/<id>.jpg`; returns one manifest row per image.

    `rows` (appended to as images finish) keeps the manifest of a run that stops half-way.
    """
    os.makedirs(out, exist_ok=True)
    rows = [] if rows is None else rows
    bar = tqdm(selection.itertuples(index=False), total=len(selection), desc="images", unit="img",
               disable=not progress)
    try:
        for record in bar:
            image_id = int(record.image_id)
            path = os.path.join(out, f"{image_id}.jpg")
            status = "already_there" if complete_jpeg_on_disk(path) else fetcher.download(image_id, path)
            holder = "" if pd.isna(record.copyright_holder) else str(record.copyright_holder)
            license = "" if pd.isna(record.license) else str(record.license)
            rows.append({"image_id": image_id, "class_name": record.class_name, "status": status,
                         "license": license, "copyright_holder": holder, "url": fetcher.url(image_id),
                         "attribution": f"© {holder}, {license}, Mushroom Observer image {image_id}"})
    finally:
        bar.close()
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def write_manifest(manifest: pd.DataFrame, csv_dir: str) -> str:
    """Merged with an earlier run's manifest: one row per image, the latest status wins."""
    path = os.path.join(csv_dir, MANIFEST)
    if os.path.exists(path):
        earlier = pd.read_csv(path, dtype={"image_id": "int64"}, keep_default_na=False)
        manifest = pd.concat([earlier, manifest]).drop_duplicates("image_id", keep="last")
    manifest.sort_values("image_id").to_csv(path, index=False)
    return path
