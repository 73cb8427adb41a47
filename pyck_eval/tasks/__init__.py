"""Evaluation, prediction and export as functions: each takes a run (or a model) and a frozen options dataclass.

`python -m pyck_eval <command>` generates its flags from the same dataclasses, parses them, calls
one of these functions and prints; a notebook calls them directly (README: Python API).
"""
