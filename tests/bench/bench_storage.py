"""Storage benchmark (a script, not a test: pytest collects no test_ functions here).

    .venv/bin/python tests/bench/bench_storage.py [--iterations 1000]

Runs the demo model for 30 iterations, synthesises a 1,000-iteration run of events like
them, then prints the median time to append one iteration's four events (target <= 5 ms)
and the time to replay the whole run to its last iteration (target <= 1 s).
"""

from __future__ import annotations

import argparse
import json
import logging

from app.bench.storage_cost import bench_storage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = bench_storage(iterations=args.iterations)
    print(json.dumps(result, indent=2))
    print(f"append one iteration (4 events): median {result['append_iteration_ms_median']} ms"
          " (target <= 5 ms)")
    print(f"replay {result['iterations']} iterations to the last one: "
          f"{result['replay_last_iteration_s']} s (target <= 1 s)")


if __name__ == "__main__":
    main()
