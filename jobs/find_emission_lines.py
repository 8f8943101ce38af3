"""spark-submit entry point for `skysift find-emission-lines` (see lib/skysift/stages/find_emission_lines/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("find-emission-lines")
