"""spark-submit entry point for `skysift pretrain` (see lib/skysift/stages/pretrain/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("pretrain")
