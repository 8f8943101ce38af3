"""spark-submit entry point for `skysift synth-survey` (see lib/skysift/stages/synth_survey/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("synth-survey")
