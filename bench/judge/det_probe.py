"""Where dlib's HOG face detector misses synface's renders (see stages/examples/det_probe.rs):
detection by |yaw|, and by quintile of each identity coefficient and trait (faces under 35
degrees of yaw, so pose does not hide identity); with BASE (the same people and poses rendered
by another build or probe knob), the paired change in detection and in the detector's score,
with standard errors, for all images and under / over 35 degrees. The score (the best window's
margin, floored at -1.5; detected means above 0) moves with a change long before the detection
rate does: its paired standard error is about 0.001-0.007 on 1200 images.
Writes OUT/scores.csv so a later comparison need not detect again.
Usage: python det_probe.py OUT [BASE]
"""
import csv
import pathlib
import sys

import dlib
import numpy as np
from PIL import Image


FLOOR = -1.5


def scores(root):
    """Best detection score per image (FLOOR where no window scores above it)."""
    cache = root / "scores.csv"
    if cache.exists():
        return np.loadtxt(cache, ndmin=1)
    det = dlib.get_frontal_face_detector()
    rows = list(csv.DictReader(open(root / "coeffs.csv")))
    out = []
    for r in rows:
        _, sc, _ = det.run(np.asarray(Image.open(root / r["file"]).convert("RGB")), 1, FLOOR)
        out.append(max(sc) if len(sc) else FLOOR)
    out = np.array(out)
    np.savetxt(cache, out, fmt="%.6f")
    return out


def paired(name, new, old):
    """Mean paired change and its standard error."""
    d = new - old
    return f"{name} {d.mean():+.4f} (se {d.std(ddof=1) / np.sqrt(len(d)):.4f})"


root = pathlib.Path(sys.argv[1])
rows = list(csv.DictReader(open(root / "coeffs.csv")))
score = scores(root)
hit = score > 0
yaw = np.abs([float(r["yaw"]) for r in rows])
print(f"detection {hit.mean():.3f} over {len(hit)} images; mean score {score.mean():.3f}")
if len(sys.argv) > 2:
    base = scores(pathlib.Path(sys.argv[2]))
    print(f"paired change vs {sys.argv[2]} (base detection {np.mean(base > 0):.3f}):")
    for label, m in (("all", yaw >= 0), ("|yaw| < 35", yaw < 35), ("|yaw| >= 35", yaw >= 35)):
        if m.sum() > 1:
            print(f"  {label:>11}: " + paired("detection", hit[m].astype(float), base[m] > 0)
                  + "; " + paired("score", score[m], base[m]))
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
