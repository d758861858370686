"""Reference for bench/train/run.sh: the same network and training step as
stages/examples/train_bench.rs (IR-ResNet [1,1,1,1] x [16,32,64,128], 128-d, 64x64 input,
or LResNet50E-IR [3,4,14,3] x [64,128,256,512], 512-d; CosFace s=30 m=0.4 over 1000 classes,
SGD momentum 0.9 + weight decay 5e-4), in plain JAX on the CPU, jit-compiled. Prints
images/s of full steps and of the forward pass alone.
Usage: jax_bench.py [steps] [batch] [size] [small|lresnet50]"""
import resource
import sys
import time

import jax
import jax.numpy as jnp

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 64
SIZE = int(sys.argv[3]) if len(sys.argv) > 3 else 64
NET = sys.argv[4] if len(sys.argv) > 4 else "small"
if NET == "small":
    DEPTHS, WIDTHS, EMB = [1, 1, 1, 1], [16, 32, 64, 128], 128
elif NET == "lresnet50":
    DEPTHS, WIDTHS, EMB = [3, 4, 14, 3], [64, 128, 256, 512], 512
else:
    sys.exit(f"unknown net {NET!r} (small, lresnet50)")
CLASSES = 1000


def conv_init(key, cout, cin, k):
    return jax.random.normal(key, (cout, cin, k, k)) * jnp.sqrt(2.0 / (cin * k * k))


def bn_init(c):
    return {"g": jnp.ones(c), "b": jnp.zeros(c)}


def init(key):
    keys = iter(jax.random.split(key, 256))
    p = {"stem": conv_init(next(keys), WIDTHS[0], 3, 3), "stem_bn": bn_init(WIDTHS[0]),
         "stem_a": jnp.full(WIDTHS[0], 0.25), "blocks": []}
    cin = WIDTHS[0]
    for depth, w in zip(DEPTHS, WIDTHS):
        for j in range(depth):
            # the first block of a stage halves the resolution and has a projection shortcut
            b = {"bn1": bn_init(cin), "c1": conv_init(next(keys), w, cin, 3), "bn2": bn_init(w),
                 "a": jnp.full(w, 0.25), "c2": conv_init(next(keys), w, w, 3), "bn3": bn_init(w)}
            if j == 0:
                b["sc"], b["sc_bn"] = conv_init(next(keys), w, cin, 1), bn_init(w)
            p["blocks"].append(b)
            cin = w
    side = SIZE // 16
    p["head_bn"] = bn_init(cin)
    p["fc_w"] = jax.random.normal(next(keys), (cin * side * side, EMB)) * jnp.sqrt(2.0 / (cin * side * side))
    p["fc_b"] = jnp.zeros(EMB)
    p["feat_bn"] = bn_init(EMB)
    p["margin"] = jax.random.normal(next(keys), (CLASSES, EMB))
    return p


def conv(x, w, stride):
    k = w.shape[-1]
    return jax.lax.conv_general_dilated(x, w, (stride, stride), [(k // 2, k // 2)] * 2,
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"))


def bn(x, p):
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
    mean = x.mean(axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axes, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-5) * p["g"].reshape(shape) + p["b"].reshape(shape)


def prelu(x, a):
    return jnp.maximum(x, 0) - a.reshape(1, -1, 1, 1) * jnp.maximum(-x, 0)


def forward(p, x):
    y = prelu(bn(conv(x, p["stem"], 1), p["stem_bn"]), p["stem_a"])
    for b in p["blocks"]:
        stride = 2 if "sc" in b else 1
        r = bn(y, b["bn1"])
        r = conv(r, b["c1"], 1)
        r = prelu(bn(r, b["bn2"]), b["a"])
        r = bn(conv(r, b["c2"], stride), b["bn3"])
        y = r + (bn(conv(y, b["sc"], stride), b["sc_bn"]) if "sc" in b else y)
    y = bn(y, p["head_bn"]).reshape(x.shape[0], -1)
    return bn(y @ p["fc_w"] + p["fc_b"], p["feat_bn"])


def loss_fn(p, x, labels):
    f = forward(p, x)
    f = f / jnp.sqrt((f ** 2).sum(1, keepdims=True) + 1e-12)
    w = p["margin"] / jnp.sqrt((p["margin"] ** 2).sum(1, keepdims=True) + 1e-12)
    cos = f @ w.T
    onehot = jax.nn.one_hot(labels, CLASSES)
    logits = 30.0 * (cos - 0.4 * onehot)
    return -(onehot * jax.nn.log_softmax(logits)).sum(1).mean()


@jax.jit
def train_step(p, v, x, labels):
    loss, g = jax.value_and_grad(loss_fn)(p, x, labels)
    g = jax.tree_util.tree_map(lambda gi, pi: gi + 5e-4 * pi, g, p)
    v = jax.tree_util.tree_map(lambda vi, gi: 0.9 * vi + gi, v, g)
    p = jax.tree_util.tree_map(lambda pi, vi: pi - 0.01 * vi, p, v)
    return p, v, loss


fwd = jax.jit(loss_fn)


def main():
    key = jax.random.PRNGKey(0)
    p = init(key)
    v = jax.tree_util.tree_map(jnp.zeros_like, p)
    x = jax.random.uniform(key, (BATCH, 3, SIZE, SIZE), minval=-1, maxval=1)
    labels = jax.random.randint(key, (BATCH,), 0, CLASSES)
    for _ in range(2):
        p, v, loss = train_step(p, v, x, labels)
        fwd(p, x, labels).block_until_ready()
    loss.block_until_ready()
    t0 = time.perf_counter()
    for _ in range(STEPS):
        fwd(p, x, labels).block_until_ready()
    t_fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(STEPS):
        p, v, loss = train_step(p, v, x, labels)
    loss.block_until_ready()
    t = time.perf_counter() - t0
    print(f"jax {jax.__version__} devices={jax.devices()}")
    print(f"jax_forward_img_s={STEPS * BATCH / t_fwd:.1f}")
    print(f"jax_train_img_s={STEPS * BATCH / t:.1f}")
    # peak resident set of this process (ru_maxrss is in KiB on Linux)
    print(f"jax_peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


if __name__ == "__main__":
    main()
