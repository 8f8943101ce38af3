"""The one user-error base class of skysift."""
from __future__ import annotations


class SkysiftError(Exception):
    """an error the user can fix; the CLI prints its message as one line and exits 2"""
