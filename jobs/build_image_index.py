"""spark-submit entry point for `skysift build-image-index` (see lib/skysift/stages/build_image_index/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("build-image-index")
