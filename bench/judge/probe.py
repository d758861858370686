"""Per-trait sensitivity of dlib's face recogniser (see stages/examples/trait_probe.rs):
for each identity dim, the mean recogniser distance between a base identity rendered with that
coefficient at -2 and at +2 standard deviations, next to the mean distance between two random
identities of the same neutral setting, and how often dlib's HOG detector misses either image.
Usage: python probe.py OUT_OF_TRAIT_PROBE
"""
import itertools
import pathlib
import sys

import numpy as np

from dlib_embed import embed

root = pathlib.Path(sys.argv[1])

ref = [embed(p)[0] for p in sorted((root / "ref").glob("*.png"))]
rd = [np.linalg.norm(a - b) for a, b in itertools.combinations(ref, 2)]
print(f"random identities: mean distance {np.mean(rd):.3f} +- {np.std(rd):.3f}")
rows = []
for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "ref"):
    dist, miss = [], 0
    for lo in sorted(d.glob("*_lo.png")):
        (a, fa), (b, fb) = embed(lo), embed(lo.with_name(lo.name.replace("_lo", "_hi")))
        dist.append(np.linalg.norm(a - b))
        miss += (not fa) + (not fb)
    rows.append((np.mean(dist), d.name, miss, 2 * len(dist)))
for m, name, miss, n in sorted(rows, reverse=True):
    print(f"{name:>22}: -2 vs +2 s.d. distance {m:.3f}; detector misses {miss}/{n}")
