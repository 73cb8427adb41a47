"""One thin module per `python -m pyck_eval <command>`: flags generated from its function's options dataclass
(`pyck_eval.tasks`), then parse, call, print and set the exit status (imported on demand)."""
