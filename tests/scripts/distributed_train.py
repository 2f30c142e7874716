"""Train lenet5 for two epochs under a strategy and save every replica's weights (test helper).

    python tests/scripts/distributed_train.py STRATEGY OUT.npz [WORKER_INDEX PORT0 PORT1]

With a worker index, TF_CONFIG is set for a two-worker cluster on 127.0.0.1.
"""

import json
import os
import sys

strategy_name, out = sys.argv[1], sys.argv[2]
if len(sys.argv) > 3:
    index, ports = int(sys.argv[3]), sys.argv[4:6]
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index}})

from pipelines import strategy as S  # noqa: E402

if strategy_name == "mirrored":
    S.configure_logical_cpus(2)
strategy = S.make_strategy(strategy_name)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasnets  # noqa: E402
from kerasnets import training  # noqa: E402

rng = np.random.RandomState(0)
x = rng.rand(64, 32, 32, 1).astype("float32")
y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int64") + 2 * (x[:, :16].mean(axis=(1, 2, 3)) > 0.5)


def per_replica(ctx):
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
    return ds.batch(ctx.get_per_replica_batch_size(16))


keras.utils.set_random_seed(0)
with strategy.scope():
    model = kerasnets.create_model("lenet5", classes=4)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = training.fit(model, per_replica, epochs=2, strategy=strategy, verbose=0)
replicas = [[np.asarray(r) for r in strategy.experimental_local_results(v.value)]
            for v in model.weights]
np.savez(out, replicas=np.array(strategy.num_replicas_in_sync),
         loss=np.array(history.history["loss"]),
         **{f"w{i}_r{j}": r for i, rs in enumerate(replicas) for j, r in enumerate(rs)})
print("done", strategy.num_replicas_in_sync, history.history["loss"])
