"""numpy (BLAS) reference for bench/similarity: same files, same operations as
`similarity_bench run`. Prints one JSON line."""
import json
import sys
import time

import numpy as np


def best(reps, f):
    out = f()
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        out = f()
        t = min(t, time.perf_counter() - t0)
    return t, out


def main():
    d, n, dim, rows, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    emb = np.fromfile(f"{d}/emb.f32", dtype="<f4").reshape(n, dim)
    pairs = np.fromfile(f"{d}/pairs.u32", dtype="<u4").reshape(-1, 2)
    pi, pj = pairs[:, 0].astype(np.intp), pairs[:, 1].astype(np.intp)

    def cos_pairs():
        en = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        return np.einsum("ij,ij->i", en[pi], en[pj])

    a, b = emb[:rows], emb[rows:2 * rows]

    def cos_all():
        an = a / np.linalg.norm(a, axis=1, keepdims=True)
        bn = b / np.linalg.norm(b, axis=1, keepdims=True)
        return an @ bn.T

    tp, sp = best(reps, cos_pairs)
    ta, sa = best(reps, cos_all)
    blas = []
    try:
        from threadpoolctl import threadpool_info
        blas = [
            {k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        ]
    except ImportError:
        pass
    print(json.dumps({
        "impl": "numpy", "numpy": np.__version__, "blas": blas, "pairs": len(pairs), "pairs_s": tp,
        "pairs_per_s": len(pairs) / tp, "all_rows": rows, "all_s": ta,
        "all_gflops": 2.0 * rows * rows * dim / ta / 1e9,
        "pairs_checksum": float(sp.astype(np.float64).sum()),
        "all_checksum": float(sa.astype(np.float64).sum()),
    }))


if __name__ == "__main__":
    main()
