"""One module per `python -m pyck_eval <command>`; each defines only its own flags (imported on demand)."""
