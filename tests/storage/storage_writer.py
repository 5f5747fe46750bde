"""A writer process for the concurrency test: saves one synthesised run, one transaction
per iteration; prints its timings as JSON. It writes FOLDER/ready-SEED once it is ready and
starts writing when FOLDER/go appears, so that both writers start together.

    python storage_writer.py DB TEMPLATE_JSON SEED ITERATIONS FOLDER
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from app.bench.storage_cost import synthesize
from engine.core.config import make_config
from engine.core.events import event_from_dict
from storage import open_store


def main() -> None:
    db, template_path, seed, iterations, folder = sys.argv[1:6]
    with open(template_path, encoding="utf-8") as handle:
        template = json.load(handle)
    config = make_config(**template["config"])
    events = synthesize(template["problem"], [event_from_dict(e) for e in template["events"]],
                        int(iterations), config, seed=int(seed))
    store = open_store(db)
    run_id = store.create_run(problem=template["problem"], config=config, model_name="w",
                              model_fingerprint=f"writer {seed}")
    Path(folder, f"ready-{seed}").touch()
    while not Path(folder, "go").exists():
        time.sleep(0.001)
    started = time.time()
    for it in range(int(iterations)):
        store.append_events(run_id, events[4 * it: 4 * it + 4], iterations_done=it + 1)
    store.set_status(run_id, "finished")
    print(json.dumps({"run_id": run_id, "started": started, "ended": time.time()}))


if __name__ == "__main__":
    main()
