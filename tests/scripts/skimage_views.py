"""Write an image folder of real-photo views: random crops and flips of the colour photographs
scikit-image ships, one class folder per photograph (a test / measurement aid; scikit-image is a
test dependency, never a run-time one).

    python tests/scripts/skimage_views.py /tmp/views --per_photo 120

`pipelines.sources` splits the folder 80/20 into train / validation per class, so
`--calibration_dataset /tmp/views --calibration_split train --check_split validation` calibrates
int8 exports on some views and measures top-1 agreement on others.
"""

import argparse
import os

import numpy as np

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field",
          "retina", "motorcycle_left", "cat", "colorwheel")


def photo(name):
    from skimage import data

    if name == "motorcycle_left":
        return data.stereo_motorcycle()[0]
    return getattr(data, name)()


def views(image, count, rng, min_area=0.25):
    """`count` random crops (area fraction in [min_area, 1], aspect in [3/4, 4/3]), half of them
    flipped left-right."""
    h, w = image.shape[:2]
    out = []
    while len(out) < count:
        area = rng.uniform(min_area, 1.0) * h * w
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        ch, cw = int(round(np.sqrt(area / aspect))), int(round(np.sqrt(area * aspect)))
        if ch > h or cw > w or min(ch, cw) < 64:
            continue
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = image[top:top + ch, left:left + cw]
        out.append(crop[:, ::-1] if len(out) % 2 else crop)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("--per_photo", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import tensorflow as tf

    rng = np.random.default_rng(args.seed)
    for name in PHOTOS:
        image = photo(name)
        if image.ndim == 2:
            image = np.stack([image] * 3, -1)
        image = image[..., :3].astype("uint8")
        folder = os.path.join(args.output, name)
        os.makedirs(folder, exist_ok=True)
        for i, view in enumerate(views(image, args.per_photo, rng)):
            data = tf.io.encode_png(np.ascontiguousarray(view)).numpy()
            with open(os.path.join(folder, f"view_{i:04d}.png"), "wb") as f:
                f.write(data)
    print(f"Wrote {len(PHOTOS) * args.per_photo} views of {len(PHOTOS)} photographs to "
          f"{args.output}")


if __name__ == "__main__":
    main()
