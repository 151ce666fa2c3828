"""Cold start: importing and indexing the function app against importing azure.functions alone.

Each sample is a fresh Python process that times its own imports (interpreter start-up
is excluded: it is the same for both). Samples alternate between the two so that noise
on this shared machine hits both alike. Last line: one JSON object.
Target: ratio <= 1.5 (heavy SDK modules are imported only where they are used).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "21"))

BASELINE = """
import time
t = time.perf_counter()
import azure.functions
print(time.perf_counter() - t)
"""

APP = """
import time
t = time.perf_counter()
import function_app
functions = function_app.app.get_functions()
elapsed = time.perf_counter() - t
import sys
heavy = sorted(m for m in sys.modules if m.startswith(("azure.data", "azure.mgmt", "azure.identity", "azure.eventgrid",
                                                       "azure.monitor", "azure.storage", "tenacity")))
print(elapsed, len(functions), ",".join(heavy[:5]))
"""


def sample(code: str) -> list[str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="0")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def main() -> None:
    sample(APP)  # warm the bytecode cache once, as a deployed app has it
    base, app = [], []
    functions, heavy = 0, ""
    for _ in range(RUNS):
        base.append(float(sample(BASELINE)[0]))
        parts = sample(APP)
        app.append(float(parts[0]))
        functions = int(parts[1])
        heavy = parts[2] if len(parts) > 2 else ""
    b, a = statistics.median(base), statistics.median(app)
    print(f"import azure.functions: median {b * 1000:.1f} ms over {RUNS} processes")
    print(f"import function_app + index {functions} functions: median {a * 1000:.1f} ms over {RUNS} processes")
    if heavy:
        print(f"heavy modules imported at indexing: {heavy}")
    print(
        json.dumps(
            {
                "bench": "cold_start",
                "ratio": round(a / b, 3),
                "runs": RUNS,
                "functions": functions,
                "baseline_ms": round(b * 1000, 1),
                "app_ms": round(a * 1000, 1),
                "heavy_modules": heavy,
            }
        )
    )


if __name__ == "__main__":
    main()
