"""Judge rendered faces with dlib's models trained on real photos (PyPI: dlib-bin,
face_recognition_models): the HOG frontal-face detector, and the ResNet face recogniser
(99.38% on LFW) on 5-point landmarks.

Usage: python judge_dlib.py DIR [PAIRS_SEED] [--json FILE] [--dump FILE.npz]
DIR/<identity>/<n>.png as written by `synface render --format imagefolder`.
Prints the detection rate and the recogniser's same/different-identity verification
accuracy: at dlib's own "same person" threshold 0.6, and 10-fold (threshold chosen on 9 folds),
over every same-identity pair and as many random different-identity pairs; the mean distance
between different identities; and near-twins: identities whose mean descriptor lies closer
than 0.4 to another identity's (real people: almost none). Then the accuracy at 0.6 and the
mean different-identity distance over every pair of images (same and different pairs weighted
equally): the values the sampled figures estimate, free of which different pairs were drawn,
whenever there are at least 200 same pairs (with fewer, the sample holds 200 different pairs
and weights them more).
`--dump` saves every pair's distance and label, each image's detection flag, identity and
descriptor for `bench/judge/geometry.py`.
"""
import itertools
import json
import pathlib
import random
import sys

import numpy as np

from dlib_embed import embed

args = [a for a in sys.argv[1:] if not a.startswith("--")]


def option(name):
    value = sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None
    if value in args:
        args.remove(value)
    return value


json_out, dump_out = option("--json"), option("--dump")
root = pathlib.Path(args[0])
rng = random.Random(int(args[1]) if len(args) > 1 else 0)
files = sorted(root.glob("*/*.png"))
# an undetected face falls back to a fixed central box (the crop is aligned): dlib_embed.py
embedded = [embed(f) for f in files]
ids = [f.parent.name for f in files]
desc = [d for d, _ in embedded]
found = [ok for _, ok in embedded]
detected = sum(found)
n = len(files)
det = detected / max(n, 1)
print(f"dlib HOG frontal-face detection: {detected}/{n} = {100.0 * det:.1f}%")

by_id = {}
for i, k in enumerate(ids):
    by_id.setdefault(k, []).append(i)
same = [p for v in by_id.values() for p in itertools.combinations(v, 2)]
diff = []
while len(diff) < max(len(same), 200):
    i, j = rng.randrange(n), rng.randrange(n)
    if ids[i] != ids[j]:
        diff.append((i, j))
pairs = [(i, j, 1) for i, j in same] + [(i, j, 0) for i, j in diff]
rng.shuffle(pairs)
dist = np.array([np.linalg.norm(desc[i] - desc[j]) for i, j, _ in pairs])
lab = np.array([l for _, _, l in pairs])

acc06 = np.mean((dist < 0.6) == (lab == 1))
folds = np.array_split(np.arange(len(pairs)), 10)
accs = []
for k in range(10):
    test = folds[k]
    train = np.concatenate([folds[m] for m in range(10) if m != k])
    cands = np.unique(dist[train])
    best = max(cands, key=lambda t: np.mean((dist[train] <= t) == (lab[train] == 1)))
    accs.append(np.mean((dist[test] <= best) == (lab[test] == 1)))

# near-twins: nearest other identity by mean descriptor
keys = sorted(by_id)
cent = np.stack([np.mean([desc[i] for i in by_id[k]], axis=0) for k in keys])
dd = np.linalg.norm(cent[:, None, :] - cent[None, :, :], axis=-1)
np.fill_diagonal(dd, np.inf)
nn = dd.min(axis=1)
twins = int(np.sum(nn < 0.4))
same_mean = float(dist[lab == 1].mean()) if np.any(lab == 1) else float("nan")
diff_mean = float(dist[lab == 0].mean())
print(f"dlib recogniser: {len(same)} same + {len(diff)} different-identity pairs; "
      f"mean distance same {same_mean:.3f}, different {diff_mean:.3f}")
print(f"dlib recogniser accuracy: {100 * acc06:.1f}% at threshold 0.6; "
      f"10-fold {100 * np.mean(accs):.1f} +- {100 * np.std(accs):.1f}%")
print(f"near-twins (identity mean within 0.4 of another): {twins}/{len(keys)}; "
      f"mean nearest-identity distance {nn.mean():.3f}")

# every pair of images instead of a sample of different pairs: what the sampled accuracy
# estimates for these images, without the noise of drawing which different pairs to test
# (an n x n Gram matrix, not n^2 / 2 difference vectors: 5000 images stay at 200 MB)
emb = np.stack(desc).astype(np.float64)
sq = np.einsum("ij,ij->i", emb, emb)
iu = np.triu_indices(n, 1)
all_dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * emb @ emb.T, 0.0))[iu]
labels = np.array(ids)
all_same = labels[iu[0]] == labels[iu[1]]
same_rate = float(np.mean(all_dist[all_same] < 0.6)) if all_same.any() else float("nan")
diff_rate = float(np.mean(all_dist[~all_same] >= 0.6))
acc06_all = 0.5 * (same_rate + diff_rate)
diff_mean_all = float(all_dist[~all_same].mean())
print(f"every pair ({int(all_same.sum())} same, {int((~all_same).sum())} different): "
      f"accuracy at 0.6 {100 * acc06_all:.1f}% (balanced: same under 0.6 {100 * same_rate:.1f}%, "
      f"different at or over 0.6 {100 * diff_rate:.1f}%); mean distance different "
      f"{diff_mean_all:.3f}")
if dump_out:
    np.savez(dump_out, dist=dist, label=lab, first=np.array([p[0] for p in pairs]),
             second=np.array([p[1] for p in pairs]), detected=np.array(found),
             identity=np.array(ids), descriptor=np.stack(desc))
if json_out:
    with open(json_out, "w") as fh:
        json.dump({"images": n, "identities": len(keys), "detection": det,
                   "same_mean": same_mean, "diff_mean": diff_mean, "acc_at_0_6": float(acc06),
                   "acc_best": float(np.mean(accs)), "near_twins": twins,
                   "nn_mean": float(nn.mean()), "acc_at_0_6_all_pairs": acc06_all,
                   "diff_mean_all_pairs": diff_mean_all}, fh)
