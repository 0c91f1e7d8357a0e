"""Dense sgemm reference for the kernel report: numpy (OpenBLAS) at the kernel-report shapes.

Usage: python bench/openblas_sgemm.py [threads]   (needs `pip install numpy threadpoolctl`)
Prints GFLOP/s (2*m*n*B per product, median of repeats) for m = 4H, n = 2H, B = 64.
"""
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
with threadpool_limits(limits=threads):
    info = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()]
    print("BLAS:", info)
    for h in (256, 1024):
        m, n, b = 4 * h, 2 * h, 64
        rng = np.random.default_rng(0)
        w = rng.standard_normal((m, n), dtype=np.float32)
        x = rng.standard_normal((n, b), dtype=np.float32)
        for _ in range(3):
            w @ x
        times = []
        for _ in range(50):
            t = time.perf_counter()
            w @ x
            times.append(time.perf_counter() - t)
        med = sorted(times)[len(times) // 2]
        print(f'{{"h":{h},"m":{m},"n":{n},"batch":{b},"threads":{threads},"openblas_gflops":{2*m*n*b/med/1e9:.1f}}}')
