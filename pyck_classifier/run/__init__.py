"""The run-directory contract: every file a model_dir holds, named once, and its index page."""
