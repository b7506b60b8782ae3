"""Errors a person can cause: each carries one sentence for them."""


class InputError(Exception):
    """The input cannot be read at all (exit status 2)."""
