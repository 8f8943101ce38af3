"""spark-submit entry point for `skysift inspect-table` (see lib/skysift/stages/inspect_table/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("inspect-table")
