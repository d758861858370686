"""Where a rendered population sits in the recogniser's space, from a `judge_dlib.py --dump`
file: descriptor norm, the norm of the population's mean descriptor (what all faces share),
the radius of the identity centroids around it and how many directions carry their spread
(participation ratio of the centroids' covariance), then the different-identity pairs under
dlib's threshold 0.6 split by whether the detector found both faces (the judge falls back to a
fixed box for a missed face) and the quantiles of the different-identity distance.

Usage: python geometry.py DUMP.npz
"""
import sys

import numpy as np

z = np.load(sys.argv[1])
dist, lab, det = z["dist"], z["label"], z["detected"]
first, second = z["first"], z["second"]
desc, ident = z["descriptor"], z["identity"]

keys = sorted(set(ident))
cent = np.stack([desc[ident == k].mean(axis=0) for k in keys])
dev = cent - cent.mean(axis=0)
ev = np.linalg.svd(dev, compute_uv=False) ** 2
ev /= ev.sum()
print(f"descriptor norm {np.linalg.norm(desc, axis=1).mean():.3f}; population mean's norm "
      f"{np.linalg.norm(cent.mean(axis=0)):.3f}; identity centroids' radius "
      f"{np.linalg.norm(dev, axis=1).mean():.3f}")
print(f"participation ratio {1.0 / np.sum(ev ** 2):.1f} of {len(keys)} identities; "
      f"top 5 / 10 / 20 directions carry {ev[:5].sum():.2f} / {ev[:10].sum():.2f} / "
      f"{ev[:20].sum():.2f} of the spread")
both = det[first] & det[second]
for name, m in [("both faces detected", both), ("one or both missed", ~both)]:
    d = dist[(lab == 0) & m]
    if len(d):
        print(f"different-identity pairs, {name}: {len(d)}, mean {d.mean():.3f}, "
              f"under 0.6 {np.mean(d < 0.6):.3f}")
q = np.percentile(dist[lab == 0], [5, 10, 25, 50, 75])
print("different-identity distance quantiles 5/10/25/50/75%: " + " ".join(f"{v:.3f}" for v in q))
