"""spark-submit entry point for `skysift build-multimodal` (see lib/skysift/stages/build_multimodal/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("build-multimodal")
