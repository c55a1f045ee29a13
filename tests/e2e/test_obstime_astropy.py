"""TAI and TT to UTC: FitsFlow (ERFA through src/core/fits/obstime.c) against astropy.time, on
thousands of instants made at test time: a few seconds around every leap second ERFA knows (its
table read through pyerfa, the one astropy uses), random instants 1960..2040 (UTC's rubber
seconds of the 1960s included) and across years 1..9999, TT as well as TAI, JSOC's spelling, UTC
leap seconds themselves and millisecond rounding into and out of them. Both the nanosecond fields
(tests/tools/ff_time_tool) and the millisecond ISO text FitsFlow writes are compared; and a few
FITS files with TAI and TT times go through `fitsflow process` into the manifest."""
import datetime as dt
import json
import os
import random
import subprocess
import warnings

from fftest import check, run, run_checks, scratch

TOOL = os.path.join(os.environ.get("FF_TOOLS_DIR", os.path.join(os.path.dirname(__file__), "../../build/tests")),
                    "ff_time_tool")
EPOCH = dt.datetime(1970, 1, 1)
NS = 1_000_000_000
TT_MINUS_TAI_NS = 32_184_000_000
rng = random.Random(20241122)


def label(ns):
    """ISO text of a time counted in ns from 1970 without leap seconds (TAI or TT): 9 digits."""
    s, frac = divmod(ns, NS)
    t = EPOCH + dt.timedelta(seconds=s)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{frac:09d}"


def ns_of(y, mo, d, h=0, mi=0, s=0):
    return int((dt.datetime(y, mo, d, h, mi, s) - EPOCH).total_seconds()) * NS


def leap_table():
    import erfa
    return [(int(r["year"]), int(r["month"]), float(r["tai_utc"])) for r in erfa.leap_seconds.get()]


def cases():
    """(scale, value given to FitsFlow, ISO value given to astropy, kind)."""
    out = []
    # Around each whole-second step of TAI - UTC: the UTC midnight it starts at, in TAI and TT.
    for y, mo, tai_utc in leap_table():
        if y < 1972:
            continue
        edge = ns_of(y, mo, 1) + round(tai_utc * NS)
        offs = [k * NS // 4 for k in range(-10, 9)] + [rng.randrange(-NS, NS) for _ in range(4)]
        for off in offs:
            v = label(edge + off)
            out.append(("TAI", v, v, "leap"))
            v = label(edge + off + TT_MINUS_TAI_NS)
            out.append(("TT", v, v, "leap"))
    # Random instants: UTC's first years, the leap-second era, a little of the future.
    lo, hi = ns_of(1960, 1, 1), ns_of(2040, 1, 1)
    for _ in range(2500):
        v = label(rng.randrange(lo, hi))
        out.append(("TAI", v, v, "random"))
    for _ in range(600):
        v = label(rng.randrange(lo, hi))
        out.append(("TT", v, v, "random"))
    # Any year FitsFlow accepts (from year 2, so that TT's 32 s stay inside year 1).
    lo, hi = ns_of(2, 1, 1), ns_of(9999, 12, 31, 23, 59, 0)
    for _ in range(400):
        v = label(rng.randrange(lo, hi))
        out.append((rng.choice(["TAI", "TT"]), v, v, "any year"))
    for v in ("1960-01-01T00:00:00.000000000", "1961-01-01T00:00:01.422818000", "1972-01-01T00:00:10.000000000",
              "9999-12-31T23:59:59.999999999", "0001-01-01T00:00:00.000000000", "1968-02-01T00:00:00.000000000"):
        out.append(("TAI", v, v, "edge"))
    # JSOC's spelling, with the scale in the value.
    for _ in range(200):
        v = label(rng.randrange(ns_of(2010, 5, 1), ns_of(2030, 1, 1)))
        jsoc = v[:10].replace("-", ".") + "_" + v[11:23] + "_TAI"
        out.append(("UTC", jsoc, v[:23], "jsoc"))
    # UTC as given, leap seconds included, rounded to the millisecond as astropy does. (Not the
    # last day of 1971: its 0.107758 s step is no leap second, and astropy stretches that day.)
    for y, mo, _ in leap_table():
        if y < 1972 or (y, mo) == (1972, 1):
            continue
        last = dt.date(y, mo, 1) - dt.timedelta(days=1)
        for sec, frac in ((59, rng.randrange(NS)), (59, 999_600_000), (60, rng.randrange(NS)), (60, 999_700_000)):
            v = f"{last.isoformat()}T23:59:{sec:02d}.{frac:09d}"
            out.append(("UTC", v, v, "utc"))
    return out


def astropy_utc(rows, precision):
    from astropy.time import Time
    res = [None] * len(rows)
    for scale in ("TAI", "TT", "UTC"):
        idx = [i for i, r in enumerate(rows) if (r[0] if r[3] != "jsoc" else "TAI") == scale]
        if not idx:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "dubious year" outside ERFA's table, as FitsFlow
            t = Time([rows[i][2] for i in idx], format="isot", scale=scale.lower(), precision=precision)
            isot = t.utc.isot
        for i, s in zip(idx, isot):
            y, rest = s.split("-", 1)
            res[i] = f"{int(y):04d}-{rest}"
    return res


def fitsflow_utc(rows):
    p = subprocess.run([TOOL], input="".join(f"{r[0]} {r[1]}\n" for r in rows), capture_output=True,
                       text=True, timeout=120, check=True)
    lines = p.stdout.splitlines()
    assert len(lines) == len(rows), (len(lines), len(rows))
    return lines


def label_seconds(s):
    """Seconds of a UTC label counted without leap seconds (only for 1960s comparisons)."""
    d = dt.datetime.strptime(s[:19].replace("T24", "T23"), "%Y-%m-%dT%H:%M:%S") if ":60" not in s[:19] else \
        dt.datetime.strptime(s[:17] + "59", "%Y-%m-%dT%H:%M:%S") + dt.timedelta(seconds=1)
    return (d - dt.datetime(1, 1, 1)).total_seconds() + float("0." + s[20:29])


ROWS = cases()
GOT = fitsflow_utc(ROWS)
WANT9 = astropy_utc(ROWS, 9)
WANT3 = astropy_utc(ROWS, 3)


@check
def nanoseconds_agree_with_astropy():
    bad, rubber = [], 0
    for r, got, want in zip(ROWS, GOT, WANT9):
        assert not got.startswith("ERROR"), f"{r}: {got}"
        ns = got.split()[0]
        if ns == want:
            continue
        # 1960-1971: TAI - UTC is a fraction of a second that drifts; ERFA rounds it to the
        # nanosecond from a Julian date split differently from astropy's, so 1 ns may differ.
        if "1960" <= want[:4] <= "1972" and abs(label_seconds(ns) - label_seconds(want)) <= 1.5e-9:
            rubber += 1
            continue
        bad.append(f"{r[0]} {r[1]}: FitsFlow {ns}, astropy {want}")
    assert not bad, f"{len(bad)} of {len(ROWS)} differ:\n" + "\n".join(bad[:40])
    kinds = {}
    for r in ROWS:
        kinds[r[3]] = kinds.get(r[3], 0) + 1
    print(f"{len(ROWS)} instants agree with astropy.time to the nanosecond ({rubber} in the 1960s within 1 ns): "
          + ", ".join(f"{k} {n}" for k, n in kinds.items()))


@check
def millisecond_text_agrees_with_astropy():
    bad = ties = 0
    msgs = []
    for r, got, want9, want3 in zip(ROWS, GOT, WANT9, WANT3):
        frac = int(want9[20:29])
        if abs(frac % 1_000_000 - 500_000) <= 2:
            ties += 1  # a half millisecond: either rounding is right
            continue
        if got.split()[1] != want3 + "Z":
            bad += 1
            msgs.append(f"{r[0]} {r[1]}: FitsFlow {got.split()[1]}, astropy {want3}Z")
    assert not bad, f"{bad} differ:\n" + "\n".join(msgs[:40])


@check
def leap_seconds_are_there():
    """The comparison is not vacuous: astropy names 23:59:60 for some of these instants."""
    n = sum(1 for w in WANT9 if w[17:19] == "60")
    assert n > 100, n
    assert sum(1 for g in GOT if g[17:19] == "60") == n


@check
def fits_files_through_process():
    """T_OBS in TAI (JSOC), DATE-OBS with TIMESYS TT, in real files: the manifest's
    observation_time is astropy's, to the millisecond."""
    import numpy as np
    from astropy.io import fits
    from astropy.time import Time
    work = scratch("obstime")
    given = {
        "aia_leap.fits": ({"T_OBS": "2016.12.31_23:59:59.250_TAI", "TELESCOP": "SDO/AIA"}, "tai", "2016-12-31T23:59:59.250"),
        "aia_in_leap.fits": ({"T_OBS": "2017.01.01_00:00:36.600_TAI", "TELESCOP": "SDO/AIA"}, "tai",
                             "2017-01-01T00:00:36.600"),
        "tt.fits": ({"DATE-OBS": "2015-07-01T00:01:08.434", "TIMESYS": "TT"}, "tt", "2015-07-01T00:01:08.434"),
        "old.fits": ({"DATE-OBS": "1968-03-01T12:00:00", "TIMESYS": "TAI"}, "tai", "1968-03-01T12:00:00"),
    }
    paths = []
    for name, (cards, _, _) in given.items():
        h = fits.Header()
        for k, v in cards.items():
            h[k] = v
        p = os.path.join(work, name)
        fits.PrimaryHDU(np.arange(64, dtype=np.int16).reshape(8, 8), header=h).writeto(p)
        paths.append(p)
    out = os.path.join(work, "out")
    run("process", "--offline", "-o", out, *paths, check_status=0)
    with open(os.path.join(out, "manifest.json")) as f:
        times = {e["base"] + ".fits": e["observation_time"] for e in json.load(f)["files"]}
    for name, (_, scale, iso) in given.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = Time(iso, scale=scale, precision=3).utc.isot + "Z"
        assert times[name] == want, (name, times[name], want)


run_checks()
