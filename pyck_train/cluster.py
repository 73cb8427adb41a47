"""Where this process stands in a multi-worker cluster, read from TF_CONFIG (no TensorFlow needed).

tf.distribute's convention: TF_CONFIG holds the cluster (`{"worker": ["host:port", ...]}`, optionally a
`chief`) and this task (`{"type": "worker", "index": 1}`). The chief is the `chief` task, or worker 0
when there is none; only the chief writes the run's files (flags, checkpoints, history, outputs).
"""

from __future__ import annotations

import dataclasses
import json
import os


@dataclasses.dataclass(frozen=True)
class Role:
    task_type: str
    task_id: int
    workers: int  # every task that trains, chief included
    has_chief_task: bool = False  # the cluster names a `chief`; else worker 0 is the chief

    @property
    def is_chief(self) -> bool:
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_id == 0
                                             and not self.has_chief_task)


SINGLE = Role("worker", 0, 1)


def tf_config_error(text: str | None) -> str | None:
    """Why TF_CONFIG cannot describe a multi-worker cluster, or None when it can."""
    if not text:
        return ("--distribution=multi_worker needs TF_CONFIG, the cluster and this task, e.g. "
                "TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:2222\", \"host2:2222\"]}, \"task\": {\"type\": "
                "\"worker\", \"index\": 0}}' (BUILD.md: running on a cluster)")
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        if task["type"] not in cluster or not 0 <= int(task["index"]) < len(cluster[task["type"]]):
            return f"TF_CONFIG's task {task} is not in its cluster {cluster}"
    except (ValueError, KeyError, TypeError) as err:
        return f"TF_CONFIG is not JSON with a cluster and a task ({type(err).__name__}: {err})"
    return None


def current_role(distribution: str) -> Role:
    """This process's role: a one-worker cluster unless `distribution` is multi_worker."""
    if distribution != "multi_worker":
        return SINGLE
    config = json.loads(os.environ["TF_CONFIG"])
    cluster, task = config["cluster"], config["task"]
    trainers = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    return Role(task["type"], int(task["index"]), trainers, "chief" in cluster)
