"""Mean recogniser distance per pair group (see stages/examples/factor_probe.rs): for each
folder of OUT holding K_a.png / K_b.png pairs, dlib's distance between a and b, mean +- std,
the fraction over dlib's threshold 0.6, and how often the HOG detector missed either image.
Usage: python pair_probe.py OUT
"""
import pathlib
import sys

import numpy as np

from dlib_embed import embed

root = pathlib.Path(sys.argv[1])

for d in sorted(p for p in root.iterdir() if p.is_dir()):
    dist, miss = [], 0
    for a in sorted(d.glob("*_a.png")):
        ea, fa = embed(a)
        eb, fb = embed(a.with_name(a.name.replace("_a.png", "_b.png")))
        dist.append(np.linalg.norm(ea - eb))
        miss += (not fa) + (not fb)
    dist = np.array(dist)
    print(f"{d.name:>16}: {dist.mean():.3f} +- {dist.std():.3f}  over 0.6 {np.mean(dist > 0.6):.2f}"
          f"  missed {miss}/{2 * len(dist)}")
