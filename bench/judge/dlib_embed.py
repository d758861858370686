"""dlib's recogniser as the probes use it: `embed(path)` gives the 128-d descriptor of the
largest face the HOG detector finds (or of a fixed central box when it finds none) and whether
it found one. Shared by probe.py and pair_probe.py.
"""
import dlib
import face_recognition_models as frm
import numpy as np
from PIL import Image

detector = dlib.get_frontal_face_detector()
shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())


def embed(path):
    img = np.asarray(Image.open(path).convert("RGB"))
    boxes = detector(img, 1)
    found = len(boxes) > 0
    if found:
        box = max(boxes, key=lambda r: r.area())
    else:
        h, w = img.shape[:2]
        box = dlib.rectangle(int(0.12 * w), int(0.12 * h), int(0.88 * w), int(0.95 * h))
    return np.array(net.compute_face_descriptor(img, shape(img, box))), found
