"""Per-image camera variation over a rendered image folder, to ask whether the recogniser's
distances between people grow when each photo is captured differently (docs/faces.md, "Tenth
session"). Every PNG under SRC/<identity>/ is written to the same place under DST after the
effects named in MODES (comma-separated; "all" for every one), each drawn per image from a
generator seeded by the file's relative path, so a rerun writes the same bytes:
  blur   Gaussian blur, sigma uniform in [0, 1.2] px
  wb     white balance: per-channel gains ~ N(1, 0.06)
  gamma  exponent uniform in [0.8, 1.25]
  noise  sensor noise, sigma uniform in [0, 4] / 255
  jpeg   JPEG compression, quality uniform in [40, 95]
Usage: python capture_var.py SRC DST MODES
then: python judge_dlib.py DST
"""
import io
import pathlib
import sys
import zlib

import numpy as np
from PIL import Image, ImageFilter

EFFECTS = ("blur", "wb", "gamma", "noise", "jpeg")


def vary(im, rng, modes):
    """One image through the chosen effects, in a fixed order."""
    if "blur" in modes:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))
    a = np.asarray(im).astype(np.float32) / 255
    if "wb" in modes:
        a = a * rng.normal(1, 0.06, 3)
    if "gamma" in modes:
        a = np.clip(a, 0, 1) ** rng.uniform(0.8, 1.25)
    if "noise" in modes:
        a = a + rng.normal(0, rng.uniform(0, 4) / 255, a.shape)
    im = Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8))
    if "jpeg" in modes:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(rng.uniform(40, 95)))
        im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return im


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    modes = set(EFFECTS) if sys.argv[3] == "all" else set(sys.argv[3].split(","))
    unknown = modes - set(EFFECTS)
    if unknown:
        sys.exit(f"unknown effect(s) {sorted(unknown)}: expected some of {', '.join(EFFECTS)} or all")
    if dst.exists() and any(dst.iterdir()):
        sys.exit(f"{dst} is not empty: give a new folder (nothing was written)")
    for f in sorted(src.glob("*/*.png")):
        rel = f.relative_to(src)
        rng = np.random.default_rng(zlib.crc32(str(rel).encode()))
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        vary(Image.open(f).convert("RGB"), rng, modes).save(out)


if __name__ == "__main__":
    main()
