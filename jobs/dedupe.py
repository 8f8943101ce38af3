"""spark-submit entry point for `skysift dedupe` (see lib/skysift/dedupe.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("dedupe")
