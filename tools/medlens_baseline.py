#!/usr/bin/env python3
"""MedLens pipeline in Python: the benchmark baseline and the correctness oracle of medimpute.

Install the pinned dependencies first:

    python3 -m pip install -r tools/requirements.txt

Three sub-commands:

  sample  MIMIC-III/IV export -> hourly grid (.npy float32, shape (items, admissions, hours)).
          Default mode does what the parallelism study (Aguiar and Fagundes) timed: one work item
          per admission (its events as a DataFrame, resampled per item with pandas'
          resample('1h', closed='right', label='right').mean()), fanned out with
          concurrent.futures ThreadPoolExecutor or ProcessPoolExecutor over p workers.
          --vectorized does the same sampling with whole-table pandas operations (merge_asof to
          assign events to admissions, one groupby), the strongest plain Python we can write.
          Both modes produce bit-identical grids; the Rust `medimpute sample` must match them
          (same NaN positions, values equal within float32 rounding).
  run     sample + MedLens Random Forest imputation per item (see impute_grid) -> imputed .npy.
  forest  fit scikit-learn's RandomForestRegressor on given .npy features and write float64
          predictions, to compare accuracy and speed with the Rust forest.

Semantics (docs: shared/docs/medlens-pipeline.md):
  * columns are found by name, case-insensitively (MIMIC-III upper case, MIMIC-IV lower case);
    events use SUBJECT_ID, ITEMID, CHARTTIME, VALUENUM (HADM_ID is NOT used: an event belongs to
    the admission whose window (previous DISCHTIME of the subject, this DISCHTIME] holds its
    CHARTTIME; the first admission's window is open to the left);
  * rows with empty VALUENUM or an unselected ITEMID are skipped;
  * admissions are ordered by (SUBJECT_ID, DISCHTIME), ties in file order;
  * each admission has `hours` bins ending at DISCHTIME rounded up to the hour; the bin labelled
    t holds t - 1h < CHARTTIME <= t; older events are dropped;
  * a bin is the float64 mean of its values cast to float32, NaN when empty.
Beside the grid, <out>.axes.json names the axes in medimpute's format (medimpute-grid-axes/1).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import functools
import json
import sys
import time
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

HOUR = 3600  # seconds; all times are int64 seconds since 1970-01-01, no time zone (MIMIC has none)

MEDLENS_CHART = [
    211, 742, 646, 618, 220045, 220210, 220277, 51, 8368, 52, 5815, 8549, 5820, 8554, 5819, 8553,
    834, 3450, 8518, 3603, 581, 3609, 8532, 455, 8441, 456, 5817, 8551, 220181, 220179, 220180, 113,
    220052, 220050, 220051, 5813, 8547, 184, 723, 454, 198, 678, 677, 8537, 3420, 5814, 8548, 190,
    220739, 223900, 223901, 223835, 3655, 223761, 224641, 220074,
]
MEDLENS_LAB = [
    51221, 50971, 50983, 50912, 50902, 51006, 50882, 51265, 50868, 51301, 51222, 50931, 51249,
    51279, 51248, 51250, 51277, 50960, 50893, 50970, 50820,
]
ITEM_SETS = {
    "medlens-numerical": MEDLENS_CHART + MEDLENS_LAB,
    "medlens-top5": [198, 223901, 220739, 454, 184],
}

EVENT_COLUMNS = ("SUBJECT_ID", "ITEMID", "CHARTTIME", "VALUENUM")
ADMISSION_COLUMNS = ("SUBJECT_ID", "HADM_ID", "DISCHTIME", "HOSPITAL_EXPIRE_FLAG")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
READ_CHUNK_ROWS = 2_000_000  # bounds memory on CHARTEVENTS-sized files; filtering is per chunk


class InputError(Exception):
    """A problem with the user's input, reported without a traceback."""


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def resolve_columns(path: str, wanted: Sequence[str]) -> dict[str, str]:
    """Maps each wanted upper-case name to the file's own spelling of it."""
    try:
        header = pd.read_csv(path, nrows=0).columns
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the header: {exc}") from exc
    by_lower: dict[str, str] = {}
    for name in header:
        by_lower.setdefault(str(name).strip().lower(), name)
    missing = [w for w in wanted if w.lower() not in by_lower]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(has: {', '.join(map(str, header))})")
    return {w: by_lower[w.lower()] for w in wanted}


def parse_times(values: pd.Series) -> np.ndarray:
    """Timestamps as int64 seconds; NaT (empty field) becomes the int64 minimum.

    The explicit format is the fast path and what MIMIC writes. Re-exports with a 'T' separator,
    a fractional second or a bare date fall back to ISO 8601; fractional seconds are then floored
    to whole seconds, as medimpute's parser drops them.
    """
    try:
        parsed = pd.to_datetime(values, format=TIME_FORMAT)
    except (ValueError, TypeError):
        try:
            parsed = pd.to_datetime(values, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise InputError(f"unparseable timestamp: {exc}") from exc
    # numpy floors when casting to a coarser unit, and keeps NaT as NaT.
    return np.asarray(parsed.to_numpy().astype("datetime64[s]").view(np.int64))


NAT = np.iinfo(np.int64).min


def _read_csv_chunks(path: str, cols: dict[str, str], dtype: dict[str, str]):
    # Only the empty field is missing, as in medimpute: pandas' default NA words ('NA', 'null',
    # ...) would otherwise turn text values into silent NaN before we decide what to do with them.
    return pd.read_csv(
        path,
        usecols=list(cols.values()),
        dtype={cols[k]: v for k, v in dtype.items()},
        na_values=[""],
        keep_default_na=False,
        chunksize=READ_CHUNK_ROWS,
    )


def read_events(paths: Sequence[str], items: Sequence[int]) -> tuple[pd.DataFrame, int]:
    """Reads every event file (CHARTEVENTS and LABEVENTS alike) and keeps the selected rows.

    Returns (DataFrame with SUBJECT_ID, ITEMID, T (int64 s), VALUENUM; in file order), rows read.
    """
    item_index = np.asarray(items, dtype=np.int64)
    frames = []
    rows = 0
    for path in paths:
        cols = resolve_columns(path, EVENT_COLUMNS)
        try:
            frames_of_file, rows_of_file = _read_event_file(path, cols, item_index, numeric=True)
        except ValueError:
            # A VALUENUM that is not a number (never in MIMIC): re-read the file treating such
            # values as empty, i.e. the row is skipped like any row without VALUENUM.
            frames_of_file, rows_of_file = _read_event_file(path, cols, item_index, numeric=False)
        frames.extend(frames_of_file)
        rows += rows_of_file
    if frames:
        events = pd.concat(frames, ignore_index=True)
    else:
        events = pd.DataFrame({"SUBJECT_ID": np.empty(0, np.int64), "ITEMID": np.empty(0, np.int64),
                               "T": np.empty(0, np.int64), "VALUENUM": np.empty(0, np.float64)})
    return events, rows


def _read_event_file(path, cols, item_index, numeric):
    dtype = {"SUBJECT_ID": "int64", "ITEMID": "int64", "CHARTTIME": "str",
             "VALUENUM": "float64" if numeric else "str"}
    frames = []
    rows = 0
    try:
        for chunk in _read_csv_chunks(path, cols, dtype):
            rows += len(chunk)
            value = chunk[cols["VALUENUM"]]
            if not numeric:
                value = pd.to_numeric(value, errors="coerce")
            value = value.to_numpy(np.float64)
            item = chunk[cols["ITEMID"]].to_numpy(np.int64)
            # NaN covers the empty field; filtering before parsing times saves most of the work.
            keep = ~np.isnan(value) & np.isin(item, item_index)
            if not keep.any():
                continue
            times = parse_times(chunk[cols["CHARTTIME"]][keep])
            has_time = times != NAT
            frames.append(pd.DataFrame({
                "SUBJECT_ID": chunk[cols["SUBJECT_ID"]].to_numpy(np.int64)[keep][has_time],
                "ITEMID": item[keep][has_time],
                "T": times[has_time],
                "VALUENUM": value[keep][has_time],
            }))
    except ValueError as exc:
        if numeric and "could not convert string to float" in str(exc):
            raise  # read_events retries the file with VALUENUM as text
        raise InputError(f"{path}: {exc}") from exc
    return frames, rows


def read_admissions(path: str) -> pd.DataFrame:
    """Admissions in grid order: sorted by (SUBJECT_ID, DISCHTIME), ties kept in file order.

    Adds T_DISCH (int64 s) and END (DISCHTIME rounded up to the hour: the last bin's label).
    Admissions without a DISCHTIME are dropped (MIMIC has none).
    """
    cols = resolve_columns(path, ADMISSION_COLUMNS)
    dtype = {"SUBJECT_ID": "int64", "HADM_ID": "int64", "DISCHTIME": "str",
             "HOSPITAL_EXPIRE_FLAG": "float64"}
    try:
        table = pd.concat(list(_read_csv_chunks(path, cols, dtype)), ignore_index=True)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from exc
    disch = parse_times(table[cols["DISCHTIME"]])
    ok = disch != NAT
    adm = pd.DataFrame({
        "SUBJECT_ID": table[cols["SUBJECT_ID"]].to_numpy(np.int64)[ok],
        "HADM_ID": table[cols["HADM_ID"]].to_numpy(np.int64)[ok],
        "T_DISCH": disch[ok],
        "HOSPITAL_EXPIRE_FLAG": np.nan_to_num(
            table[cols["HOSPITAL_EXPIRE_FLAG"]].to_numpy(np.float64)[ok]).astype(np.int64),
    })
    order = np.lexsort((adm["T_DISCH"].to_numpy(), adm["SUBJECT_ID"].to_numpy()))  # stable
    adm = adm.iloc[order].reset_index(drop=True)
    adm["END"] = ceil_hour(adm["T_DISCH"].to_numpy())
    return adm


def ceil_hour(t: np.ndarray) -> np.ndarray:
    """Rounds int64 seconds up to the hour; a time on the hour stays (= Timestamp.ceil('h'))."""
    return -((-t) // HOUR) * HOUR


# --------------------------------------------------------------------------------------------
# Hourly sampling, MedLens style: one work item per admission, fanned out with an executor
# --------------------------------------------------------------------------------------------

def make_executor(kind: str, workers: int) -> cf.Executor:
    if kind == "thread":
        return cf.ThreadPoolExecutor(max_workers=workers)
    if kind == "process":
        return cf.ProcessPoolExecutor(max_workers=workers)
    raise ValueError(f"unknown executor {kind!r}")


def ordered_map(executor: cf.Executor, fn: Callable, tasks: Iterable, window: int):
    """executor.submit for each task, results in task order, at most `window` in flight.

    Like executor.map (one submission per admission, as the study did), but without holding
    every pending task (a pickled DataFrame per admission in process mode) in memory at once.
    """
    pending: collections.deque = collections.deque()
    for task in tasks:
        pending.append(executor.submit(fn, *task))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def resample_admission(events: pd.DataFrame, end: np.datetime64, hours: int,
                       item_rows: dict[int, int]) -> np.ndarray:
    """One admission's events -> its (items, hours) block, the MedLens way.

    pandas' hourly bins are anchored on midnight of the first event's day (origin='start_day'),
    so they fall on whole hours; closed='right', label='right' makes the bin labelled t hold
    (t - 1h, t]. Reindexing to the admission's own 720 labels drops older events and fills
    empty hours with NaN.
    """
    out = np.full((len(item_rows), hours), np.nan, dtype=np.float32)
    if events.empty:
        return out
    labels = pd.date_range(end=pd.Timestamp(end), periods=hours, freq="h", unit="s")
    for item, group in events.groupby("ITEMID", sort=False):
        series = group.set_index("CHARTTIME")["VALUENUM"]
        binned = series.resample("1h", closed="right", label="right").mean()
        out[item_rows[item]] = binned.reindex(labels).to_numpy(dtype=np.float32)
    return out


def admission_tasks(events: pd.DataFrame, adm: pd.DataFrame) -> Iterable[tuple]:
    """Yields (events DataFrame, window end) per admission, in grid order.

    Independent of the vectorized mode's merge_asof on purpose, so the two cross-check: events
    are sorted by (subject, time) and each admission takes its subject's events with
    previous DISCHTIME < CHARTTIME <= DISCHTIME (searchsorted side='right' on both bounds).
    """
    subj = events["SUBJECT_ID"].to_numpy()
    t = events["T"].to_numpy()
    order = np.lexsort((t, subj))  # stable: equal times keep file order (summation order)
    subj, t = subj[order], t[order]
    item = events["ITEMID"].to_numpy()[order]
    value = events["VALUENUM"].to_numpy()[order]
    chart = t.view("datetime64[s]")

    adm_subj = adm["SUBJECT_ID"].to_numpy()
    adm_disch = adm["T_DISCH"].to_numpy()
    adm_end = adm["END"].to_numpy().view("datetime64[s]")
    lo_subj = np.searchsorted(subj, adm_subj, side="left")
    hi_subj = np.searchsorted(subj, adm_subj, side="right")
    for a in range(len(adm)):
        lo, hi = lo_subj[a], hi_subj[a]
        first_of_subject = a == 0 or adm_subj[a - 1] != adm_subj[a]
        start = lo if first_of_subject else lo + np.searchsorted(t[lo:hi], adm_disch[a - 1], "right")
        stop = lo + np.searchsorted(t[lo:hi], adm_disch[a], "right")
        frame = pd.DataFrame({"CHARTTIME": chart[start:stop], "ITEMID": item[start:stop],
                              "VALUENUM": value[start:stop]})
        yield frame, adm_end[a]


def sample_medlens(events: pd.DataFrame, adm: pd.DataFrame, items: Sequence[int], hours: int,
                   executor: cf.Executor, workers: int) -> np.ndarray:
    grid = np.full((len(items), len(adm), hours), np.nan, dtype=np.float32)
    item_rows = {int(item): row for row, item in enumerate(items)}
    fn = functools.partial(resample_admission, hours=hours, item_rows=item_rows)
    blocks = ordered_map(executor, fn, admission_tasks(events, adm), window=64 * workers)
    for a, block in enumerate(blocks):
        grid[:, a, :] = block
    return grid


# --------------------------------------------------------------------------------------------
# Hourly sampling, vectorized: whole-table operations
# --------------------------------------------------------------------------------------------

def sample_vectorized(events: pd.DataFrame, adm: pd.DataFrame, items: Sequence[int],
                      hours: int) -> np.ndarray:
    n_items, n_adm = len(items), len(adm)
    grid = np.full((n_items, n_adm, hours), np.nan, dtype=np.float32)
    if events.empty or n_adm == 0:
        return grid
    # merge_asof needs both sides sorted on the time key. The stable sort keeps file order among
    # equal times, the same summation order as the per-admission mode (bit-identical means).
    left = events.sort_values("T", kind="stable", ignore_index=True)
    right = pd.DataFrame({"T_DISCH": adm["T_DISCH"].to_numpy(), "SUBJECT_ID": adm["SUBJECT_ID"].to_numpy(),
                          "ADM": np.arange(n_adm, dtype=np.int64)})
    # Among equal DISCHTIMEs of one subject merge_asof takes the first row, which must be the
    # earlier admission of the grid (the later one's window (t, t] is empty).
    right = right.sort_values(["T_DISCH", "ADM"], ignore_index=True)
    # forward + allow_exact_matches: the first DISCHTIME >= CHARTTIME of the same subject, i.e.
    # the admission whose window (previous DISCHTIME, DISCHTIME] holds the event.
    merged = pd.merge_asof(left, right, left_on="T", right_on="T_DISCH", by="SUBJECT_ID",
                           direction="forward", allow_exact_matches=True)
    adm_idx = merged["ADM"].to_numpy()
    matched = ~np.isnan(adm_idx) if adm_idx.dtype.kind == "f" else np.ones(len(adm_idx), bool)
    adm_idx = adm_idx[matched].astype(np.int64)
    t = merged["T"].to_numpy()[matched]
    value = merged["VALUENUM"].to_numpy()[matched]
    item_row = pd.Index(np.asarray(items, np.int64)).get_indexer(merged["ITEMID"].to_numpy()[matched])

    # Bin label = CHARTTIME rounded up to the hour; index counted back from the window's end.
    hour = hours - 1 - (adm["END"].to_numpy()[adm_idx] - ceil_hour(t)) // HOUR
    inside = hour >= 0
    key = (item_row[inside] * n_adm + adm_idx[inside]) * hours + hour[inside]
    means = pd.Series(value[inside]).groupby(key, sort=False).mean()
    grid.reshape(-1)[means.index.to_numpy()] = means.to_numpy().astype(np.float32)
    return grid


# --------------------------------------------------------------------------------------------
# MedLens Random Forest imputation
# --------------------------------------------------------------------------------------------

FEATURE_NAMES = ("max", "min", "mean", "max-min", "position mod 24")


def window_features(block: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Features of every bin of a (series, hours) block from its +-window bins (observed only).

    Returns (features (series, hours, 5) float64, count of observed bins in the window). The
    window includes the bin itself: for an observed (training) bin that is MedLens's target
    leak; for a missing bin it contributes nothing.
    """
    n, hours = block.shape
    padded = np.full((n, hours + 2 * window), np.nan)
    padded[:, window:window + hours] = block
    wmax = np.full((n, hours), np.nan)
    wmin = np.full((n, hours), np.nan)
    wsum = np.zeros((n, hours))
    count = np.zeros((n, hours), dtype=np.int64)
    for k in range(2 * window + 1):
        shifted = padded[:, k:k + hours]
        seen = ~np.isnan(shifted)
        np.fmax(wmax, shifted, out=wmax)  # fmax/fmin ignore NaN
        np.fmin(wmin, shifted, out=wmin)
        wsum += np.where(seen, shifted, 0.0)
        count += seen
    with np.errstate(invalid="ignore", divide="ignore"):
        wmean = wsum / count
    position = np.broadcast_to(np.arange(hours) % 24, (n, hours)).astype(np.float64)
    return np.stack([wmax, wmin, wmean, wmax - wmin, position], axis=-1), count


def build_item_rows(block: np.ndarray, window: int):
    """Training and prediction rows of one chunk of admissions of one item."""
    features, count = window_features(block.astype(np.float64), window)
    observed = ~np.isnan(block)
    to_predict = ~observed & (count > 0)
    return (features[observed], block[observed].astype(np.float64),
            features[to_predict], np.flatnonzero(to_predict.reshape(-1)))


def fit_predict_item(train_x, train_y, test_x, trees, seed, max_train, n_jobs, item_pos):
    """Fits the item's forest (sklearn defaults otherwise, as MedLens) and predicts."""
    from sklearn.ensemble import RandomForestRegressor

    if len(train_y) == 0 or len(test_x) == 0:
        return np.empty(0)
    if max_train is not None and len(train_y) > max_train:
        rng = np.random.default_rng([seed, item_pos])
        pick = np.sort(rng.choice(len(train_y), size=max_train, replace=False))
        train_x, train_y = train_x[pick], train_y[pick]
    forest = RandomForestRegressor(n_estimators=trees, random_state=seed, n_jobs=n_jobs)
    forest.fit(train_x, train_y)
    return forest.predict(test_x)


def carry_along(series: np.ndarray) -> np.ndarray:
    """Forward fill then backward fill along the last axis; all-NaN series stay NaN."""
    def ffill(x):
        idx = np.where(np.isnan(x), 0, np.arange(x.shape[-1]))
        np.maximum.accumulate(idx, axis=-1, out=idx)
        return np.take_along_axis(x, idx, axis=-1)
    return ffill(ffill(series)[..., ::-1])[..., ::-1]


def impute_grid(grid: np.ndarray, executor: cf.Executor, workers: int, trees: int, seed: int,
                window: int, max_train: int | None, n_jobs: int | None,
                chunk_admissions: int = 512) -> np.ndarray:
    """MedLens imputation of every item block; returns a complete float32 grid."""
    n_items, n_adm, hours = grid.shape
    out = grid.copy()
    # Feature building: one task per (item, admission chunk).
    chunks = [(i, a0, min(a0 + chunk_admissions, n_adm))
              for i in range(n_items) for a0 in range(0, n_adm, chunk_admissions)]
    feature_tasks = [(grid[i, a0:a1], window) for i, a0, a1 in chunks]
    per_item: dict[int, list] = collections.defaultdict(list)
    for (i, a0, a1), rows in zip(chunks, ordered_map(executor, build_item_rows, feature_tasks,
                                                     window=4 * workers)):
        per_item[i].append((a0, rows))
    # Forest per item.
    fit_tasks, positions = [], []
    for i in range(n_items):
        parts = per_item.get(i, [])
        train_x = np.concatenate([r[0] for _, r in parts]) if parts else np.empty((0, 5))
        train_y = np.concatenate([r[1] for _, r in parts]) if parts else np.empty(0)
        test_x = np.concatenate([r[2] for _, r in parts]) if parts else np.empty((0, 5))
        # Chunk-local flat positions -> positions in the item's (admissions * hours) block.
        pos = (np.concatenate([r[3] + a0 * hours for a0, r in parts]) if parts
               else np.empty(0, np.int64))
        fit_tasks.append((train_x, train_y, test_x, trees, seed, max_train, n_jobs, i))
        positions.append(pos)
    for i, pred in enumerate(ordered_map(executor, fit_predict_item, fit_tasks, window=2 * workers)):
        if len(pred):
            out[i].reshape(-1)[positions[i]] = pred.astype(np.float32)
    out = carry_along(out)
    out[np.isnan(out)] = 0.0
    return out


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def parse_items(args) -> list[int]:
    if args.items is not None:
        items = []
        for part in (p.strip() for p in args.items.split(",")):
            if not part:
                continue
            if not part.isdigit():
                raise InputError(f"'{part}' is not an item id (a non-negative integer)")
            if int(part) in items:
                raise InputError(f"item {part} is listed twice")
            items.append(int(part))
        if not items:
            raise InputError("--items lists no item")
        return items
    return list(ITEM_SETS[args.item_set])


def write_npy(path: str, array: np.ndarray) -> None:
    # np.save would append '.npy' to a name without it; writing to a file object does not.
    with open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"), copy=False)))


def write_axes(path: str, items: Sequence[int], adm: pd.DataFrame, hours: int, n_items: int) -> None:
    def fmt(ts):
        return pd.Timestamp(int(ts), unit="s").strftime(TIME_FORMAT)
    axes = {
        "format": "medimpute-grid-axes/1",
        "shape": [n_items, len(adm), hours],
        "hours": hours,
        "items": [int(i) for i in items],
        "admissions": [
            {"subject_id": int(s), "hadm_id": int(h), "dischtime": fmt(d), "window_end": fmt(e),
             "hospital_expire_flag": int(f)}
            for s, h, d, e, f in zip(adm["SUBJECT_ID"], adm["HADM_ID"], adm["T_DISCH"], adm["END"],
                                     adm["HOSPITAL_EXPIRE_FLAG"])
        ],
    }
    with open(path + ".axes.json", "w") as fh:
        json.dump(axes, fh, indent=2)
        fh.write("\n")


def sample_from_args(args, executor: cf.Executor, timings: dict) -> tuple[np.ndarray, list, pd.DataFrame]:
    items = parse_items(args)
    t0 = time.perf_counter()
    adm = read_admissions(args.admissions)
    events, rows = read_events(args.events, items)
    t1 = time.perf_counter()
    if args.vectorized:
        grid = sample_vectorized(events, adm, items, args.hours)
    else:
        grid = sample_medlens(events, adm, items, args.hours, executor, args.p)
    t2 = time.perf_counter()
    timings.update(read_s=t1 - t0, sample_s=t2 - t1, rows=rows, events_kept=len(events),
                   admissions=len(adm), items=len(items), hours=args.hours)
    return grid, items, adm


def finish_timings(args, timings: dict, command: str, start: float) -> None:
    timings.update(total_s=time.perf_counter() - start, p=args.p, executor=args.executor,
                   mode="vectorized" if args.vectorized else "medlens", command=command)
    parts = [f"{k}={timings[k]:.3f}" for k in ("read_s", "sample_s", "impute_s", "total_s")
             if k in timings]
    print(f"medlens_baseline {command}: mode={timings['mode']} executor={args.executor} p={args.p} "
          f"rows={timings['rows']} kept={timings['events_kept']} admissions={timings['admissions']} "
          f"items={timings['items']} " + " ".join(parts), file=sys.stderr)
    if args.json_timings:
        with open(args.json_timings, "w") as fh:
            json.dump(timings, fh, indent=2)
            fh.write("\n")


def cmd_sample(args) -> None:
    start = time.perf_counter()
    timings: dict = {}
    with make_executor(args.executor, args.p) as executor:
        grid, items, adm = sample_from_args(args, executor, timings)
    write_npy(args.out, grid)
    write_axes(args.out, items, adm, args.hours, len(items))
    finish_timings(args, timings, "sample", start)


def cmd_run(args) -> None:
    start = time.perf_counter()
    timings: dict = {}
    with make_executor(args.executor, args.p) as executor:
        grid, items, adm = sample_from_args(args, executor, timings)
        if args.grid_out:
            write_npy(args.grid_out, grid)
        t0 = time.perf_counter()
        imputed = impute_grid(grid, executor, args.p, trees=args.trees, seed=args.seed,
                              window=args.window, max_train=args.max_train, n_jobs=args.n_jobs)
        timings["impute_s"] = time.perf_counter() - t0
    write_npy(args.out, imputed)
    write_axes(args.out, items, adm, args.hours, len(items))
    finish_timings(args, timings, "run", start)


def parse_max_features(text: str):
    lowered = text.lower()
    if lowered in ("sqrt", "log2"):
        return lowered
    if lowered in ("all", "none"):
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad --max-features {text!r}") from None


def cmd_forest(args) -> None:
    from sklearn.ensemble import RandomForestRegressor

    train_x = np.load(args.train_x)
    train_y = np.load(args.train_y).reshape(-1)
    test_x = np.load(args.test_x)
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise InputError(f"features must be 2-D with equal widths: train {train_x.shape}, "
                         f"test {test_x.shape}")
    if len(train_y) != len(train_x):
        raise InputError(f"{len(train_x)} training rows but {len(train_y)} targets")
    forest = RandomForestRegressor(
        n_estimators=args.trees, max_features=args.max_features,
        min_samples_leaf=args.min_samples_leaf, max_depth=args.max_depth,
        random_state=args.seed, n_jobs=args.n_jobs)
    t0 = time.perf_counter()
    forest.fit(train_x, train_y)
    t1 = time.perf_counter()
    pred = forest.predict(test_x).astype(np.float64)
    t2 = time.perf_counter()
    write_npy(args.out, pred)
    timings = {"fit_s": t1 - t0, "predict_s": t2 - t1, "n_train": len(train_x),
               "n_test": len(test_x), "n_features": int(train_x.shape[1]), "trees": args.trees,
               "n_jobs": args.n_jobs}
    print(f"medlens_baseline forest: n_train={len(train_x)} n_test={len(test_x)} "
          f"trees={args.trees} fit_s={t1 - t0:.3f} predict_s={t2 - t1:.3f}", file=sys.stderr)
    if args.json_timings:
        with open(args.json_timings, "w") as fh:
            json.dump(timings, fh, indent=2)
            fh.write("\n")


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medlens_baseline.py",
        description="MedLens hourly sampling and Random Forest imputation in pandas/scikit-learn: "
                    "the benchmark baseline and correctness oracle of medimpute.",
        epilog="Install: python3 -m pip install -r tools/requirements.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def add_sampling(p: argparse.ArgumentParser) -> None:
        p.add_argument("--admissions", required=True, metavar="A.csv[.gz]",
                       help="ADMISSIONS table (MIMIC-III or MIMIC-IV headers)")
        p.add_argument("--events", required=True, action="append", metavar="E.csv[.gz]",
                       help="an event table (CHARTEVENTS, LABEVENTS); repeat for several")
        group = p.add_mutually_exclusive_group()
        group.add_argument("--items", metavar="ID,ID,...",
                           help="explicit comma-separated ITEMIDs, in grid order")
        group.add_argument("--item-set", choices=sorted(ITEM_SETS), default="medlens-numerical",
                           help="named item set (default: medlens-numerical, 56 chart + 21 lab)")
        p.add_argument("--hours", type=positive_int, default=720,
                       help="hourly bins per admission, ending at DISCHTIME rounded up (default 720)")
        p.add_argument("--executor", choices=("thread", "process"), default="thread",
                       help="concurrent.futures pool for the per-admission / per-item work "
                            "(default thread, as original MedLens)")
        p.add_argument("-p", "--workers", dest="p", type=positive_int, default=1,
                       help="pool size (default 1)")
        p.add_argument("--vectorized", action="store_true",
                       help="sample with whole-table pandas ops (merge_asof + groupby) instead of "
                            "per-admission resample; same grid, executor unused for sampling")
        p.add_argument("--json-timings", metavar="T.json",
                       help="write read_s, sample_s, [impute_s,] total_s, rows, p, executor, mode")

    sample = sub.add_parser("sample", help="export -> hourly grid .npy (items, admissions, hours)",
                            description="Hourly sampling of a MIMIC export into a float32 grid of "
                                        "shape (items, admissions, hours); NaN = no value.")
    add_sampling(sample)
    sample.add_argument("--out", required=True, metavar="grid.npy", help="output grid")
    sample.set_defaults(func=cmd_sample)

    run = sub.add_parser("run", help="sample + MedLens Random Forest imputation -> complete grid",
                         description="Sampling, then per item: a RandomForestRegressor on window "
                                     "features (max, min, mean, max-min over +-window observed "
                                     "bins, position mod 24) predicts each missing bin with an "
                                     "observation in its window; the rest is forward- then "
                                     "backward-filled along the series, and empty series become 0.")
    add_sampling(run)
    run.add_argument("--out", required=True, metavar="imputed.npy", help="output imputed grid")
    run.add_argument("--grid-out", metavar="grid.npy", help="also write the sampled grid")
    run.add_argument("--trees", type=positive_int, default=100, help="trees per forest (default 100)")
    run.add_argument("--seed", type=int, default=0, help="random_state and subsampling seed (default 0)")
    run.add_argument("--window", type=non_negative_int, default=12, help="feature window, +- bins (default 12)")
    run.add_argument("--max-train", type=positive_int, metavar="N",
                     help="subsample each item's training rows to N (seeded); default all")
    run.add_argument("--n-jobs", type=int, default=None,
                     help="RandomForestRegressor n_jobs per forest (default: sklearn's, 1)")
    run.set_defaults(func=cmd_run)

    forest = sub.add_parser("forest", help="fit sklearn RandomForestRegressor on .npy features",
                            description="Fit RandomForestRegressor on X, y and write float64 "
                                        "predictions for T (reference for the Rust forest).")
    forest.add_argument("--train-x", required=True, metavar="X.npy")
    forest.add_argument("--train-y", required=True, metavar="y.npy")
    forest.add_argument("--test-x", required=True, metavar="T.npy")
    forest.add_argument("--out", required=True, metavar="pred.npy")
    forest.add_argument("--trees", type=positive_int, default=100, help="n_estimators (default 100)")
    forest.add_argument("--max-features", type=parse_max_features, default=1.0, metavar="F",
                        help="int count, float fraction, sqrt, log2 or all (default 1.0 = all)")
    forest.add_argument("--min-samples-leaf", type=positive_int, default=1, metavar="L")
    forest.add_argument("--max-depth", type=positive_int, default=None, metavar="D",
                        help="default unlimited")
    forest.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    forest.add_argument("--n-jobs", type=int, default=None, metavar="J",
                        help="sklearn n_jobs (default 1; -1 = all cores)")
    forest.add_argument("--json-timings", metavar="T.json", help="write fit_s, predict_s, sizes")
    forest.set_defaults(func=cmd_forest)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as exc:
        print(f"medlens_baseline: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
