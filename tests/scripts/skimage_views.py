"""Write an image folder of real-photo views: random crops and flips of the colour photographs
scikit-image ships, one class folder per photograph (a test / measurement aid). PHOTOS, photo()
and views() live in `pipelines.sources.photos`, whose built-in `photos` source cuts views of the
same photographs in memory (256x256 squares, 120 train / 30 validation per photograph).

    python tests/scripts/skimage_views.py /tmp/views --per_photo 120

`pipelines.sources` splits the folder 80/20 into train / validation per class, so
`--calibration_dataset /tmp/views --calibration_split train --check_split validation` calibrates
int8 exports on some views and measures top-1 agreement on others.
"""

import argparse
import os

import numpy as np

from pipelines.sources.photos import PHOTOS, photo, views  # noqa: F401  (int8_study: views)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output")
    parser.add_argument("--per_photo", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import tensorflow as tf

    rng = np.random.default_rng(args.seed)
    for name in PHOTOS:
        image = photo(name)   # uint8 HxWx3
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
