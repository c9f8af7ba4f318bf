"""Cold-start cost: numba compilation of the set-up and the kernel, as a new user's first run sees it.

    NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/compile_time.py

Times build_model (field set-up, including the plane check of models.field.plane_structure) and
then a 200-particle run of the Cerri toy field in one worker; with an empty cache both include
compilation.  Run it twice with the same cache directory to see the cached cost.
"""

import time

import sdeprop
from sdeprop.engine import build_model

CFG = {"run": {"particles": 200, "progress": False, "workers": 1}, "field": {"model": "cerri_toy"}}

t0 = time.perf_counter()
build_model(CFG)
t1 = time.perf_counter()
sdeprop.run(CFG)
print(f"build_model {t1 - t0:.1f} s, then the first run {time.perf_counter() - t1:.1f} s")
