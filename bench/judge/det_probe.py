"""Where dlib's HOG face detector misses synface's renders (see stages/examples/det_probe.rs):
detection by |yaw|, and by quintile of each identity coefficient and trait (faces under 35
degrees of yaw, so pose does not hide identity); with BASE (the same people and poses rendered
by another build or probe knob), the paired change in detection and its standard error.
Writes OUT/hits.csv (1 = face found) so a later comparison need not detect again.
Usage: python det_probe.py OUT [BASE]
"""
import csv
import pathlib
import sys

import dlib
import numpy as np
from PIL import Image


def hits(root):
    cache = root / "hits.csv"
    if cache.exists():
        return np.loadtxt(cache, dtype=bool, ndmin=1)
    det = dlib.get_frontal_face_detector()
    rows = list(csv.DictReader(open(root / "coeffs.csv")))
    h = np.array([len(det(np.asarray(Image.open(root / r["file"]).convert("RGB")), 1)) > 0
                  for r in rows])
    np.savetxt(cache, h, fmt="%d")
    return h


root = pathlib.Path(sys.argv[1])
rows = list(csv.DictReader(open(root / "coeffs.csv")))
hit = hits(root)
yaw = np.abs([float(r["yaw"]) for r in rows])
print(f"detection {hit.mean():.3f} over {len(hit)} images")
if len(sys.argv) > 2:
    base = hits(pathlib.Path(sys.argv[2]))
    d = hit.astype(float) - base
    print(f"paired change vs {sys.argv[2]}: {d.mean():+.4f} (se {d.std(ddof=1) / np.sqrt(len(d)):.4f};"
          f" base {base.mean():.3f})")
for lo, hi in [(0, 15), (15, 25), (25, 35), (35, 40), (40, 91)]:
    m = (yaw >= lo) & (yaw < hi)
    if m.any():
        print(f"|yaw| {lo:>2}-{hi:<2}: {m.sum():>4} images, detection {hit[m].mean():.3f}")
low = yaw < 35
cols = [c for c in rows[0] if c not in ("file", "id", "yaw", "pitch")]
table = []
for c in cols:
    x = np.array([float(r[c]) for r in rows])[low]
    edges = np.percentile(x, np.linspace(0, 100, 6))
    q = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, 4)
    rates = [hit[low][q == i].mean() for i in range(5) if np.any(q == i)]
    if len(rates) > 1:
        table.append((max(rates) - min(rates), c, rates))
print("detection under 35 degrees by quintile of each coefficient (largest spread first;"
      " about 60 people a quintile at the defaults, so spreads under ~0.06 are noise):")
for spread, c, rates in sorted(table, reverse=True)[:12]:
    print(f"{c:>12}: " + " ".join(f"{r:.3f}" for r in rates))
