"""migguard: one leaf per Django app, across git merge, rebase and push."""

__version__ = "0.1.0"
