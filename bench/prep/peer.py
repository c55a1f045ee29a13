#!/usr/bin/python3
"""The Python peer of bench/prep: sunpy 4.1's Map.rotate + crop as aiapy's register does it
(written out in tests/e2e/prepsun.py; aiapy is not in Debian), and aiapy's exposure
normalisation. Prints one JSON line.

  peer.py register --input F --runs R --save OUT.npy
      loads the map once, then times register() R times (rotate + crop only; integer data are
      converted to float64 first, as sunpy >= 5 does, since sunpy 4.1 cannot pad integers with
      NaN); saves the normalised result of the last run for the tolerance check.
  peer.py e2e --input F --lev15 OUT.fits --ml OUT.npy [--ml-size 512]
      times the whole file-to-outputs step after the imports: read, register, normalise, write
      the level-1.5 FITS, place on the 4096 grid, NaN-aware block mean, np.save.
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
import prepsun  # noqa: E402
import sunpy.map  # noqa: E402
from sunpy.map.sources.sdo import AIAMap  # noqa: E402

warnings.simplefilter("ignore")


def load(path):
    m = sunpy.map.Map(path)
    if not np.issubdtype(m.data.dtype, np.floating):
        m = sunpy.map.Map(m.data.astype(np.float64), m.meta)
    return m


def ml_array(data, cdelt, size):
    k = int(round(cdelt / 0.6))
    big = np.kron(data, np.ones((k, k), data.dtype)) if k > 1 else data
    g = np.full((4096, 4096), np.nan, np.float32)
    h, w = big.shape
    oy, ox = (4096 - h) // 2, (4096 - w) // 2
    g[oy:oy + h, ox:ox + w] = big
    b = 4096 // size
    return np.nanmean(g.reshape(size, b, size, b), axis=(1, 3)).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["register", "e2e"])
    ap.add_argument("--input", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--save")
    ap.add_argument("--lev15")
    ap.add_argument("--ml")
    ap.add_argument("--ml-size", type=int, default=512)
    a = ap.parse_args()
    if a.mode == "register":
        m = load(a.input)
        times, cpu = [], []
        for _ in range(a.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            out = prepsun.register(m)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        if isinstance(out, AIAMap):
            out = prepsun.normalize_exposure(out)
        if a.save:
            np.save(a.save, out.data)
        print(json.dumps({"register_s": times, "register_cpu_s": cpu, "shape": list(out.data.shape),
                          "crpix": [out.meta["crpix1"], out.meta["crpix2"]],
                          "r_sun": out.meta["r_sun"]}))
    else:
        t0 = time.perf_counter()
        m = load(a.input)
        out = prepsun.register(m)
        if isinstance(out, AIAMap):
            out = prepsun.normalize_exposure(out)
        data = out.data.astype(np.float32)
        sunpy.map.Map(data, out.meta).save(a.lev15, overwrite=True)
        np.save(a.ml, ml_array(data, out.meta["cdelt1"], a.ml_size))
        print(json.dumps({"e2e_s": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
