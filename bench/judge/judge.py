"""Detection rate of OpenCV's Haar frontal-face cascade (trained on real photos) on rendered faces.

Usage: python judge.py DIR  (DIR/<identity>/<n>.png as written by `synface render --format imagefolder`)
"""
import pathlib
import sys

import cv2

root = pathlib.Path(sys.argv[1])
cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
files = sorted(root.glob("*/*.png"))
hits = 0
for f in files:
    gray = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2GRAY)
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(40, 40))
    hits += len(faces) > 0
print(f"haar frontal-face detection: {hits}/{len(files)} = {100.0 * hits / max(len(files), 1):.1f}%")
