"""Which of synface's different people does a real-photo recogniser take for the same person?
Reads a `det_probe` folder (`stages/examples/det_probe.rs`: N people x K images and
`coeffs.csv`), computes dlib's descriptor of every image once (`dlib_embed.py`; cached in
OUT/emb.npz) and prints, over every pair of images, the share of different-identity pairs
closer than the recogniser's threshold 0.6 (the whole shortfall of the accuracy at 0.6: same
pairs lie under it) overall and by group of the two people: sex (trait > 0.5 is male-typical),
and among men, facial hair (beard or moustache density > 0.3). With BASE, the same for BASE
and the paired change (the same people and poses under another build or probe knob).
docs/faces.md, "Who the close pairs are", used it.

Usage: python pair_groups.py OUT [BASE]
"""
import csv
import pathlib
import sys

import numpy as np

from dlib_embed import embed

THRESHOLD = 0.6


def load(root):
    """Rows of coeffs.csv and every image's descriptor (computed once, then cached)."""
    rows = list(csv.DictReader(open(root / "coeffs.csv")))
    cache = root / "emb.npz"
    if cache.exists():
        return rows, np.load(cache)["d"]
    found = [embed(root / r["file"]) for r in rows]
    desc = np.stack([d for d, _ in found])
    np.savez(cache, d=desc, f=np.array([f for _, f in found]))
    return rows, desc


def shares(root):
    """(label, number of different pairs, share under the threshold) per group."""
    rows, desc = load(root)
    col = {n: np.array([float(r[n]) for r in rows]) for n in ("id", "sex", "beard", "moustache")}
    a, b = np.triu_indices(len(rows), 1)
    dist = np.linalg.norm(desc[a] - desc[b], axis=1)
    diff = col["id"][a] != col["id"][b]
    male = col["sex"] > 0.5
    hair = np.maximum(col["beard"], col["moustache"]) > 0.3
    men = male[a] & male[b]
    groups = [
        ("same identity (share under 0.6)", ~diff),
        ("different identities", diff),
        ("  woman, woman", diff & ~male[a] & ~male[b]),
        ("  man, man", diff & men),
        ("  woman, man", diff & (male[a] != male[b])),
        ("    men, both with facial hair", diff & men & hair[a] & hair[b]),
        ("    men, one with facial hair", diff & men & (hair[a] != hair[b])),
        ("    men, neither", diff & men & ~hair[a] & ~hair[b]),
    ]
    out = [(label, int(m.sum()), float(np.mean(dist[m] < THRESHOLD)) if m.any() else float("nan"))
           for label, m in groups]
    same, different = out[0][2], out[1][2]
    summary = (f"{len(rows)} images, men {male.mean():.2f} (with facial hair {hair[male].mean():.2f}); "
               f"accuracy at 0.6 over every pair {(same + 1 - different) / 2:.4f}")
    return summary, out


root = pathlib.Path(sys.argv[1])
summary, out = shares(root)
print(summary)
base = shares(pathlib.Path(sys.argv[2])) if len(sys.argv) > 2 else None
if base:
    print(f"base: {base[0]}")
print("share of pairs closer than 0.6" + (" (base, change)" if base else ""))
for i, (label, n, s) in enumerate(out):
    extra = f"  ({base[1][i][2]:.3f}, {s - base[1][i][2]:+.3f})" if base else ""
    print(f"  {label:<34} {n:>7} pairs  {s:.3f}{extra}")
