import json
import os

import pandas as pd
import pytest

from pyck_tfds.dump import DumpError, read_metadata
from pyck_tfds.dump.ids import normalize_ids
from pyck_tfds.dump.metadata import load_json_records
from tests.conftest import write_text

RECORD = {"image_id": 11, "observation": 10, "thumbnail": 1, "label": "Xerocomellus dryophilus",
          "date": "2006-05-21 07:17:22", "user": 1, "location": 38,
          "gbif_info": {"family": "Boletaceae", "genus": "Xerocomellus", "confidence": 98, "rank": "SPECIES",
                        "familyKey": 8789, "synonym": False, "matchType": "EXACT"}}


def records(n: int) -> list[dict]:
    return [{**RECORD, "image_id": 11 + i} for i in range(n)]


def test_ids_accept_integers_digit_strings_and_url_paths():
    values = pd.Series([10, "38", "/show_observation/10", "http://mushroomobserver.org/observer/show_user/7/",
                        None, "abc", -3, 4.0, 4.5, True], dtype=object)
    assert normalize_ids(values).tolist() == [10, 38, 10, 7, pd.NA, pd.NA, pd.NA, 4, pd.NA, pd.NA]


def test_reads_and_flattens_gbif_info(tmp_path):
    rows = records(2) + [{**RECORD, "image_id": "/images/320/99", "observation": "/show_observation/5",
                          "gbif_info": None},
                         {**RECORD, "image_id": 100, "gbif_info": {"confidence": 100, "matchType": "NONE",
                                                                  "synonym": False}}]
    write_text(tmp_path / "json" / "observations_2006.json", json.dumps(rows))
    frame, reports = read_metadata(tmp_path)
    assert reports[0].status == "ok" and reports[0].records == 4
    assert frame["image_id"].tolist() == [11, 12, 99, 100]
    assert frame["observation_id"].tolist() == [10, 10, 5, 10]
    assert frame["gbif_info.family"].astype(object).tolist()[:2] == ["Boletaceae", "Boletaceae"]
    assert pd.isna(frame["gbif_info.family"].iloc[2]) and pd.isna(frame["gbif_info.family"].iloc[3])
    assert frame["gbif_info.matchType"].astype(object).tolist()[3] == "NONE"
    assert frame["has_gbif_info"].tolist() == [True, True, False, True]
    assert frame["json_file"].astype(str).unique().tolist() == ["json/observations_2006.json"]


def test_unexpected_fields_are_ignored(tmp_path):
    rows = [{**RECORD, "surprise": {"nested": [1, 2]}, "gbif_info": {**RECORD["gbif_info"], "acceptedKey": 1}}]
    write_text(tmp_path / "observations_2010.json", json.dumps(rows))
    frame, _ = read_metadata(tmp_path)
    assert not any("surprise" in c or "acceptedKey" in c for c in frame.columns)
    assert frame["gbif_info.family"].iloc[0] == "Boletaceae"


def test_trailing_comma_keeps_every_record(tmp_path):
    body = ",\n".join(json.dumps(r) for r in records(3))
    path = write_text(tmp_path / "observations_2011.json", f"[\n{body},\n]\n")
    rows, report = load_json_records(path)
    assert len(rows) == 3 and report.status == "trailing_comma" and report.lost_records == 0


@pytest.mark.parametrize("cut", [",\n", ',\n{"image_id": 7, "observ', ',\n{"image_id": 7, "label": "Amanita'])
def test_truncated_file_keeps_complete_records_and_counts_the_loss(tmp_path, caplog, cut):
    body = ",\n".join(json.dumps(r) for r in records(5))
    path = write_text(tmp_path / "observations_2012.json", "[\n" + body + cut)
    with caplog.at_level("WARNING"):
        rows, report = load_json_records(path)
    assert [r["image_id"] for r in rows] == [11, 12, 13, 14, 15]
    assert report.status == "truncated"
    readable = len(("[\n" + body + ",\n").encode())  # the records and the comma after the last one
    lost = len(cut.encode()) - len(",\n")
    assert (report.byte_offset, report.lost_bytes, report.lost_records) == (readable, lost, cut.count('"image_id"'))
    assert caplog.messages == [f"{path}: truncated at byte {readable}; kept 5 complete records, lost about "
                               f"{report.lost_records} record(s) ({lost} bytes)."]


def test_malformed_record_inside_a_complete_file_names_file_and_offset(tmp_path):
    good = [json.dumps(r) for r in records(3)]
    text = "[\n" + good[0] + ",\n" + '{"image_id": 12, "label": oops}' + ",\n" + good[2] + "\n]\n"
    path = write_text(tmp_path / "observations_2013.json", text)
    with pytest.raises(DumpError) as err:
        load_json_records(path)
    message = str(err.value)
    offset = text.index("oops")
    assert path in message and f"byte {offset}" in message and "line 3" in message


@pytest.mark.parametrize("text", ['{"image_id": 1}', '"hello"'])
def test_json_that_is_not_a_list_is_an_error(tmp_path, text):
    path = write_text(tmp_path / "observations_2014.json", text)
    with pytest.raises(DumpError, match="not a list"):
        load_json_records(path)


def test_file_that_is_not_json_at_all_is_an_error(tmp_path):
    path = write_text(tmp_path / "observations_2014.json", "<html>502 Bad Gateway</html>")
    with pytest.raises(DumpError, match="not a JSON list"):
        load_json_records(path)


def test_non_utf8_file_names_byte(tmp_path):
    path = tmp_path / "observations_2015.json"
    path.write_bytes(b'[{"label": "caf\xe9"}]')
    with pytest.raises(DumpError, match="byte 15"):
        load_json_records(str(path))


def test_records_that_are_not_objects_are_flagged(tmp_path):
    write_text(tmp_path / "observations_2016.json", json.dumps([RECORD, None, 5]))
    frame, _ = read_metadata(tmp_path)
    assert frame["is_object"].tolist() == [True, False, False]


def test_data_after_the_closing_bracket_is_an_error(tmp_path):
    text = json.dumps(records(2)) + "\n]\n"
    path = write_text(tmp_path / "observations_2015.json", text)
    with pytest.raises(DumpError, match=f"byte {text.index(chr(10)) + 1} after the closing"):
        load_json_records(path)


def test_a_file_whose_dates_are_all_missing_joins_the_others(tmp_path):
    """Bug: a file with no date at all gave float categories that could not be joined with another file's."""
    write_text(tmp_path / "json" / "a.json", json.dumps([{"image_id": 1, "label": "x", "date": "2015-09-01"}]))
    write_text(tmp_path / "json" / "b.json", json.dumps([{"image_id": 2, "label": "x", "date": None},
                                                         {"image_id": 3, "label": None, "date": None}]))
    frame, _ = read_metadata(tmp_path)
    assert frame["date"].astype(object).tolist()[0] == "2015-09-01" and frame["date"].isna().tolist() == [False, True,
                                                                                                         True]
    assert frame["label"].cat.categories.tolist() == ["x"]


def test_a_file_cut_before_its_first_complete_record_joins_the_others(tmp_path):
    """Bug (issue 26): `head -c 100` of a metadata file left no record, and its empty columns could not be joined."""
    whole = json.dumps(records(3))
    write_text(tmp_path / "json" / "observations_2006.json", whole)
    write_text(tmp_path / "json" / "observations_2007.json", whole[:100])
    frame, reports = read_metadata(tmp_path)
    assert len(frame) == 3 and [r.records for r in reports] == [3, 0]
    assert frame["json_file"].astype(object).tolist() == [os.path.join("json", "observations_2006.json")] * 3
