"""Judge rendered faces with dlib's models trained on real photos (PyPI: dlib-bin,
face_recognition_models): the HOG frontal-face detector, and the ResNet face recogniser
(99.38% on LFW) on 5-point landmarks.

Usage: python judge_dlib.py DIR [PAIRS_SEED]
DIR/<identity>/<n>.png as written by `synface render --format imagefolder`.
Prints the detection rate and the recogniser's same/different-identity verification
accuracy: at dlib's standard distance threshold 0.6, and 10-fold (threshold chosen on 9 folds),
over every same-identity pair and as many random different-identity pairs.
"""
import itertools
import pathlib
import random
import sys

import dlib
import face_recognition_models as frm
import numpy as np
from PIL import Image

root = pathlib.Path(sys.argv[1])
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
detector = dlib.get_frontal_face_detector()
shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

files = sorted(root.glob("*/*.png"))
ids, desc, detected = [], [], 0
for f in files:
    img = np.asarray(Image.open(f).convert("RGB"))
    boxes = detector(img, 1)
    if len(boxes) > 0:
        detected += 1
        box = max(boxes, key=lambda r: r.area())
    else:
        # Undetected: the crop is aligned, so use the whole image as the face box.
        h, w = img.shape[:2]
        box = dlib.rectangle(int(0.12 * w), int(0.12 * h), int(0.88 * w), int(0.95 * h))
    d = np.array(net.compute_face_descriptor(img, shape(img, box)))
    ids.append(f.parent.name)
    desc.append(d)
n = len(files)
print(f"dlib HOG frontal-face detection: {detected}/{n} = {100.0 * detected / max(n, 1):.1f}%")

by_id = {}
for i, k in enumerate(ids):
    by_id.setdefault(k, []).append(i)
same = [p for v in by_id.values() for p in itertools.combinations(v, 2)]
diff = []
while len(diff) < len(same):
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
print(f"dlib recogniser: {len(same)} same + {len(diff)} different-identity pairs; "
      f"mean distance same {dist[lab == 1].mean():.3f}, different {dist[lab == 0].mean():.3f}")
print(f"dlib recogniser accuracy: {100 * acc06:.1f}% at threshold 0.6; "
      f"10-fold {100 * np.mean(accs):.1f} +- {100 * np.std(accs):.1f}%")
