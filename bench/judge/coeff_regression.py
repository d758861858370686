"""How much of the recogniser's view of a person do the model's identity coefficients explain?
Reads a `det_probe` folder (`stages/examples/det_probe.rs`: N people x K images and
`coeffs.csv`), computes dlib's descriptor of every image (a missed face falls back to a fixed
box, `dlib_embed.py`), averages them per identity, and prints: the held-out R^2 of a
linear fit of the identity centroids on the semantic coefficients (all, shape only, albedo
only, derived traits; the first two thirds of the people fit, the last third test), and the
coefficients whose magnitude correlates most with how far an identity lies from the others
(its mean centroid distance: a small one marks a "hub" that looks like everyone).

Usage: python coeff_regression.py DET_PROBE_DIR
"""
import csv
import pathlib
import sys

import numpy as np

from dlib_embed import embed

root = pathlib.Path(sys.argv[1])
rows = list(csv.DictReader(open(root / "coeffs.csv")))

desc = np.stack([embed(root / r["file"])[0] for r in rows])
ident = np.array([r["id"] for r in rows])
keys = list(dict.fromkeys(ident))
first = {}
for r in rows:
    first.setdefault(r["id"], r)
cent = np.stack([desc[ident == k].mean(axis=0) for k in keys])
names = ([f"s{i}" for i in range(20)] + [f"a{i}" for i in range(32)]
         + ["sex", "age", "hair_length", "fringe", "bald", "beard", "moustache"])
x = np.array([[float(first[k][n]) for n in names] for k in keys])
y = cent - cent.mean(axis=0)
train = np.arange(len(keys)) < 2 * len(keys) // 3


def held_out_r2(cols):
    a = np.c_[x[:, cols], np.ones(len(keys))]
    w = np.linalg.lstsq(a[train], y[train], rcond=None)[0]
    resid = y[~train] - a[~train] @ w
    return 1.0 - (resid ** 2).sum() / ((y[~train] - y[train].mean(axis=0)) ** 2).sum()


groups = [("all semantic", slice(0, 59)), ("shape 0..20", slice(0, 20)),
          ("albedo 0..32", slice(20, 52)), ("derived traits", slice(52, 59))]
print(f"{len(keys)} identities, {len(rows)} images; held-out R^2 of the identity centroids: "
      + ", ".join(f"{g} {held_out_r2(s):.2f}" for g, s in groups))
dd = np.linalg.norm(cent[:, None] - cent[None], axis=-1)
np.fill_diagonal(dd, np.nan)
spread = np.nanmean(dd, axis=1)
corr = []
for i, n in enumerate(names):
    v = np.abs(x[:, i]) if i < 52 else x[:, i]
    corr.append((np.corrcoef(v, spread)[0, 1], n))
corr.sort()
print(f"mean centroid distance {np.nanmean(dd):.3f}; correlation of |coefficient| (traits as "
      "they are) with an identity's mean distance to the others:")
print("  lowest: " + ", ".join(f"{n} {c:+.2f}" for c, n in corr[:6]))
print("  highest: " + ", ".join(f"{n} {c:+.2f}" for c, n in corr[-6:]))
