"""migguard: one leaf per Django app, across git merge, rebase and push."""

__version__ = "0.2.0"  # also names the caches: a new version reads every file again
