#!/usr/bin/env python3
"""Tests of tools/medlens_baseline.py on a tiny hand-made export with known answers.

Run with `python3 -m pytest tools/` or `python3 tools/test_medlens_baseline.py`.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import medlens_baseline as mb  # noqa: E402

NAN = np.nan
HR, CREAT = 211, 50912  # a chart item and a lab item of medlens-numerical

# Admissions, deliberately not in grid order. DIAGNOSIS holds quoted commas.
# Grid order by (SUBJECT_ID, DISCHTIME): 100, 101, 200, 300.
ADMISSIONS = '''"ROW_ID","SUBJECT_ID","HADM_ID","ADMITTIME","DISCHTIME","DIAGNOSIS","HOSPITAL_EXPIRE_FLAG"
1,10,101,"2101-01-03 00:00:00","2101-01-05 12:00:00","SEPSIS, PNEUMONIA; ""FEVER""",1
2,20,200,"2101-02-27 00:00:00","2101-03-01 08:00:00","CHEST PAIN",0
3,10,100,"2101-01-01 00:00:00","2101-01-02 10:30:00","FALL, HIP FRACTURE",0
4,30,300,"2101-04-01 00:00:00","2101-04-02 00:00:01","NONE",0
'''

# CHARTEVENTS, MIMIC-III style (upper-case quoted headers), written gzipped. HADM_ID is wrong on
# purpose in places: assignment goes by time window only.
CHART_ROWS = [
    # SUBJECT_ID, HADM_ID, ITEMID, CHARTTIME, VALUE, VALUENUM
    # admission 100: END = 2101-01-02 11:00, 6 bins labelled 06:00 .. 11:00
    (10, 100, HR, "2101-01-02 05:00:00", "1", "1"),          # label 05:00: before first bin
    (10, 100, HR, "2101-01-02 05:00:01", "2", "2"),          # label 06:00: h0
    (10, 100, HR, "2101-01-02 07:10:00", "60", "60"),        # label 08:00: h2, mean with next
    (10, 999, HR, "2101-01-02 07:50:00", "65", "65"),        # label 08:00: h2 -> 62.5
    (10, 100, HR, "2101-01-02 09:30:00", "Unable, see note", ""),  # empty VALUENUM: skipped
    (10, 100, HR, "2101-01-02 10:00:00", "80", "80"),        # exactly on the hour: h4
    (10, 100, HR, "2101-01-02 10:00:01", "90", "90"),        # one second after: h5
    (10, 101, HR, "2101-01-02 10:30:00", "99", "99"),        # = DISCHTIME of 100: 100's h5 -> 94.5
    (10, 100, 999, "2101-01-02 10:00:00", "7", "7"),         # item not selected
    # admission 101: DISCHTIME on the hour, END = 2101-01-05 12:00, bins 07:00 .. 12:00
    (10, 101, HR, "2101-01-02 10:30:01", "55", "55"),        # in 101's window, far too old
    (10, 101, HR, "2101-01-05 11:59:59", "3", "3"),          # label 12:00: h5
    (10, 101, HR, "2101-01-05 12:00:00", "100", "100"),      # = DISCHTIME: h5 -> 51.5
    (10, 101, HR, "2101-01-05 12:00:01", "5", "5"),          # after the last discharge: dropped
    # admission 200: END = 2101-03-01 08:00, bins 03:00 .. 08:00
    (20, 200, HR, "2101-03-01 07:30:00", "120.5", "120.5"),  # h5
    (40, 400, HR, "2101-03-01 07:30:00", "77", "77"),        # subject without admission
]

# LABEVENTS, MIMIC-IV style (lower-case headers, extra columns, empty hadm_id).
LAB_ROWS = [
    # subject_id, hadm_id, itemid, charttime, value, valuenum, flag
    (10, "", CREAT, "2101-01-02 08:00:00", "1.1", "1.1", ""),    # 100: h2
    (10, "", CREAT, "2101-01-05 06:00:00", "9", "9", ""),         # 101: label 06:00, too old
    (10, 101, CREAT, "2101-01-05 07:00:00", "2", "2", "abnormal"),  # 101: h0
    (20, "", CREAT, "2101-03-01 03:00:00", "0.7", "0.7", ""),     # 200: h0
    (20, "", CREAT, "2101-03-01 05:10:00", "0.1", "0.1", ""),     # 200: label 06:00: h3
    (20, "", CREAT, "2101-03-01 05:20:00", "0.2", "0.2", ""),     # 200: h3 -> mean(0.1, 0.2)
    (20, "", CREAT, "2101-03-01 06:00:00", "<0.1", "", ""),       # empty valuenum: skipped
]


def expected_grid() -> np.ndarray:
    g = np.full((2, 4, 6), NAN, dtype=np.float32)
    g[0, 0] = [2, NAN, 62.5, NAN, 80, 94.5]
    g[0, 1] = [NAN, NAN, NAN, NAN, NAN, 51.5]
    g[0, 2] = [NAN, NAN, NAN, NAN, NAN, 120.5]
    g[1, 0, 2] = 1.1
    g[1, 1, 0] = 2.0
    g[1, 2, 0] = 0.7
    g[1, 2, 3] = np.float32((0.1 + 0.2) / 2)  # float64 mean, then float32
    return g


def write_export(directory: str, lower_case_admissions: bool = False) -> dict:
    adm_text = ADMISSIONS
    if lower_case_admissions:
        header, rest = adm_text.split("\n", 1)
        adm_text = header.lower() + "\n" + rest
    paths = {
        "admissions": os.path.join(directory, "ADMISSIONS.csv"),
        "chart": os.path.join(directory, "CHARTEVENTS.csv.gz"),
        "lab": os.path.join(directory, "labevents.csv"),
    }
    with open(paths["admissions"], "w") as fh:
        fh.write(adm_text)
    with gzip.open(paths["chart"], "wt") as fh:
        fh.write('"ROW_ID","SUBJECT_ID","HADM_ID","ICUSTAY_ID","ITEMID","CHARTTIME","STORETIME",'
                 '"CGID","VALUE","VALUENUM","VALUEUOM"\n')
        for n, (s, h, i, t, v, vn) in enumerate(CHART_ROWS):
            fh.write(f'{n},{s},{h},,{i},"{t}","{t}",1,"{v}",{vn},"bpm"\n')
    with open(paths["lab"], "w") as fh:
        fh.write("labevent_id,subject_id,hadm_id,specimen_id,itemid,charttime,storetime,value,"
                 "valuenum,valueuom,flag,comments\n")
        for n, (s, h, i, t, v, vn, f) in enumerate(LAB_ROWS):
            fh.write(f'{n},{s},{h},{n},{i},{t},{t},{v},{vn},mg/dL,{f},"drawn, rechecked"\n')
    return paths


def assert_same_grid(test: unittest.TestCase, got: np.ndarray, want: np.ndarray) -> None:
    test.assertEqual(got.dtype, np.float32)
    test.assertEqual(got.shape, want.shape)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])


class SamplingTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.paths = write_export(self.dir)

    def tearDown(self):
        self.tmp.cleanup()

    def sample(self, *extra, hours=6, paths=None, name="grid.npy") -> np.ndarray:
        paths = paths or self.paths
        out = os.path.join(self.dir, name)
        rc = mb.main(["sample", "--admissions", paths["admissions"], "--events", paths["chart"],
                      "--events", paths["lab"], "--items", f"{HR},{CREAT}", "--hours", str(hours),
                      "--out", out, *extra])
        self.assertEqual(rc, 0)
        return np.load(out)

    def test_exact_values_in_every_mode_and_executor(self):
        want = expected_grid()
        for extra in (["--executor", "thread", "-p", "1"], ["--executor", "thread", "-p", "3"],
                      ["--executor", "process", "-p", "1"], ["--executor", "process", "-p", "2"],
                      ["--vectorized"], ["--vectorized", "--executor", "process", "-p", "2"]):
            with self.subTest(extra=extra):
                assert_same_grid(self, self.sample(*extra), want)

    def test_modes_agree_on_default_720_hours(self):
        medlens = self.sample("--executor", "process", "-p", "2", hours=720)
        vectorized = self.sample("--vectorized", hours=720)
        self.assertEqual(medlens.shape, (2, 4, 720))
        assert_same_grid(self, vectorized, medlens)
        # With 720 bins nothing of admission 100 is too old: the 05:00 event is in bin 05:00.
        self.assertEqual(medlens[0, 0, 720 - 7], 1.0)
        # ... and 101's window holds the event one second after 100's discharge (label 11:00 of
        # Jan 2; 101 ends Jan 5 12:00, i.e. 73 hours later).
        self.assertEqual(medlens[0, 1, 719 - 73], 55.0)

    def test_lower_case_admission_headers(self):
        other = os.path.join(self.dir, "iv")
        os.mkdir(other)
        paths = write_export(other, lower_case_admissions=True)
        assert_same_grid(self, self.sample("--vectorized", paths=paths), expected_grid())
        assert_same_grid(self, self.sample(paths=paths), expected_grid())

    def test_axes_and_timings_files(self):
        timings_path = os.path.join(self.dir, "t.json")
        self.sample("--json-timings", timings_path)
        with open(timings_path) as fh:
            timings = json.load(fh)
        for key in ("read_s", "sample_s", "total_s", "rows", "p", "executor", "mode"):
            self.assertIn(key, timings)
        self.assertEqual(timings["rows"], len(CHART_ROWS) + len(LAB_ROWS))
        self.assertEqual(timings["mode"], "medlens")
        with open(os.path.join(self.dir, "grid.npy.axes.json")) as fh:
            axes = json.load(fh)
        self.assertEqual(axes["shape"], [2, 4, 6])
        self.assertEqual(axes["items"], [HR, CREAT])
        self.assertEqual([a["hadm_id"] for a in axes["admissions"]], [100, 101, 200, 300])
        self.assertEqual(axes["admissions"][0]["window_end"], "2101-01-02 11:00:00")
        self.assertEqual(axes["admissions"][1]["window_end"], "2101-01-05 12:00:00")
        self.assertEqual(axes["admissions"][3]["window_end"], "2101-04-02 01:00:00")
        self.assertEqual(axes["admissions"][1]["hospital_expire_flag"], 1)

    def test_item_sets(self):
        self.assertEqual(len(mb.ITEM_SETS["medlens-numerical"]), 77)
        self.assertEqual(len(set(mb.ITEM_SETS["medlens-numerical"])), 77)
        self.assertEqual(mb.ITEM_SETS["medlens-numerical"][:2], [211, 742])
        self.assertEqual(mb.ITEM_SETS["medlens-numerical"][56], 51221)
        out = os.path.join(self.dir, "g.npy")
        mb.main(["sample", "--admissions", self.paths["admissions"], "--events",
                 self.paths["chart"], "--events", self.paths["lab"], "--hours", "6", "--out", out])
        grid = np.load(out)
        self.assertEqual(grid.shape, (77, 4, 6))
        numerical = mb.ITEM_SETS["medlens-numerical"]
        assert_same_grid(self, grid[[numerical.index(HR), numerical.index(CREAT)]], expected_grid())

    def test_tied_discharge_times_go_to_the_first_admission(self):
        adm = os.path.join(self.dir, "tie_adm.csv")
        ev = os.path.join(self.dir, "tie_ev.csv")
        with open(adm, "w") as fh:
            fh.write("SUBJECT_ID,HADM_ID,DISCHTIME,HOSPITAL_EXPIRE_FLAG\n"
                     "5,52,2101-01-01 10:00:00,0\n5,51,2101-01-01 10:00:00,0\n")
        with open(ev, "w") as fh:
            fh.write("SUBJECT_ID,ITEMID,CHARTTIME,VALUENUM\n5,211,2101-01-01 09:30:00,4\n")
        grids = []
        for extra in ([], ["--vectorized"]):
            out = os.path.join(self.dir, "tie.npy")
            mb.main(["sample", "--admissions", adm, "--events", ev, "--items", "211",
                     "--hours", "2", "--out", out, *extra])
            grids.append(np.load(out))
        want = np.array([[[NAN, 4.0], [NAN, NAN]]], dtype=np.float32)  # file order: 52 then 51
        for grid in grids:
            assert_same_grid(self, grid, want)

    def test_timestamp_variants_and_non_numeric_valuenum(self):
        adm = os.path.join(self.dir, "v_adm.csv")
        ev = os.path.join(self.dir, "v_ev.csv")
        with open(adm, "w") as fh:
            fh.write("subject_id,hadm_id,dischtime,hospital_expire_flag\n5,50,2101-01-01T10:00:00,0\n")
        with open(ev, "w") as fh:
            fh.write("subject_id,itemid,charttime,valuenum\n"
                     "5,211,2101-01-01T09:00:00.900,4\n"     # fraction dropped: bin 09:00
                     "5,211,2101-01-01 09:30:00,abc\n")      # not a number: skipped
        for extra in ([], ["--vectorized"]):
            out = os.path.join(self.dir, "v.npy")
            mb.main(["sample", "--admissions", adm, "--events", ev, "--items", "211",
                     "--hours", "2", "--out", out, *extra])
            assert_same_grid(self, np.load(out), np.array([[[4.0, NAN]]], dtype=np.float32))

    def test_bad_input_is_reported_not_raised(self):
        bad = os.path.join(self.dir, "bad.csv")
        with open(bad, "w") as fh:
            fh.write("SUBJECT_ID,ITEMID\n1,2\n")
        rc = mb.main(["sample", "--admissions", self.paths["admissions"], "--events", bad,
                      "--out", os.path.join(self.dir, "x.npy")])
        self.assertEqual(rc, 2)


class ImputationTest(unittest.TestCase):
    def test_run_end_to_end(self):
        with tempfile.TemporaryDirectory() as d:
            paths = write_export(d)
            out = os.path.join(d, "imputed.npy")
            grid_out = os.path.join(d, "grid.npy")
            timings = os.path.join(d, "t.json")
            for extra in (["--executor", "thread", "-p", "2"], ["--executor", "process", "-p", "2",
                                                               "--vectorized", "--max-train", "3"]):
                rc = mb.main(["run", "--admissions", paths["admissions"], "--events",
                              paths["chart"], "--events", paths["lab"], "--items",
                              f"{HR},{CREAT}", "--hours", "6", "--trees", "5", "--seed", "1",
                              "--out", out, "--grid-out", grid_out, "--json-timings", timings,
                              *extra])
                self.assertEqual(rc, 0)
                imputed, grid = np.load(out), np.load(grid_out)
                assert_same_grid(self, grid, expected_grid())
                self.assertFalse(np.isnan(imputed).any())
                observed = ~np.isnan(grid)
                np.testing.assert_array_equal(imputed[observed], grid[observed])
                self.assertTrue((imputed[:, 3] == 0).all())  # admission without events
                # Every bin of a 6-hour series is within 12 h of an observation: all predicted,
                # and predictions of a forest lie within the training targets' range.
                hr = imputed[0, :3]
                self.assertTrue((hr >= 2).all() and (hr <= 120.5).all())
                with open(timings) as fh:
                    self.assertIn("impute_s", json.load(fh))

    def test_features_and_fallbacks(self):
        series = np.array([[NAN, 1.0, NAN, 3.0] + [NAN] * 30], dtype=np.float32)
        features, count = mb.window_features(series.astype(np.float64), 2)
        np.testing.assert_array_equal(count[0, :7], [1, 2, 2, 2, 1, 1, 0])
        np.testing.assert_array_equal(features[0, 2], [3.0, 1.0, 2.0, 2.0, 2.0])
        np.testing.assert_array_equal(features[0, 1, :4], [3.0, 1.0, 2.0, 2.0])  # target leaks
        np.testing.assert_array_equal(features[0, 25, 4], 1.0)  # position mod 24
        carried = mb.carry_along(np.array([[NAN, 1, NAN, 3, NAN], [NAN] * 5]))
        np.testing.assert_array_equal(carried[0], [1, 1, 1, 3, 3])
        self.assertTrue(np.isnan(carried[1]).all())

    def test_forest_command(self):
        with tempfile.TemporaryDirectory() as d:
            rng = np.random.default_rng(0)
            x = rng.normal(size=(200, 3))
            y = x[:, 0] * 2 + x[:, 1]
            names = {k: os.path.join(d, k + ".npy") for k in ("x", "y", "t", "p")}
            np.save(names["x"], x)
            np.save(names["y"], y)
            np.save(names["t"], x[:10])
            timings = os.path.join(d, "t.json")
            rc = mb.main(["forest", "--train-x", names["x"], "--train-y", names["y"], "--test-x",
                          names["t"], "--out", names["p"], "--trees", "20", "--max-features",
                          "sqrt", "--min-samples-leaf", "2", "--json-timings", timings])
            self.assertEqual(rc, 0)
            pred = np.load(names["p"])
            self.assertEqual((pred.dtype, pred.shape), (np.float64, (10,)))
            self.assertLess(np.abs(pred - y[:10]).mean(), 1.0)
            with open(timings) as fh:
                self.assertEqual({"fit_s", "predict_s"} - set(json.load(fh)), set())


if __name__ == "__main__":
    unittest.main(verbosity=2)
