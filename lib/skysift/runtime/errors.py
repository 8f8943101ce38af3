"""The one base class of errors a user can fix (a bad path, a missing column, a KB that cannot answer).

The CLI catches ``SkysiftError`` and prints ``skysift JOB: error: MESSAGE`` as one line and exits 2, never a
traceback; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class SkysiftError(Exception):
    """An error the user can fix; the CLI prints its message as one line and exits 2."""
