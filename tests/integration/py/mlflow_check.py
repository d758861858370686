"""Read a synface MLflow export back with the mlflow client.

Usage: mlflow_check.py STORE_DIR EXPERIMENT_NAME
Prints one JSON object: the experiment, and per run its name, parent, params, metrics and
tags (tests/integration/py_export.rs checks them against synface's own records).
"""
import json
import os
import sys

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

from mlflow.tracking import MlflowClient  # noqa: E402


def main():
    store, name = sys.argv[1:3]
    client = MlflowClient(tracking_uri="file:" + os.path.abspath(store))
    exp = client.get_experiment_by_name(name)
    if exp is None:
        print(json.dumps({"error": f"no experiment {name!r}"}))
        return 1
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    out = {
        "experiment_id": exp.experiment_id,
        "runs": [
            {
                "id": r.info.run_id,
                "name": r.info.run_name,
                "status": r.info.status,
                "parent": r.data.tags.get("mlflow.parentRunId"),
                "params": r.data.params,
                "metrics": r.data.metrics,
                "tags": {k: v for k, v in r.data.tags.items() if k.startswith("synface.")},
            }
            for r in runs
        ],
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
