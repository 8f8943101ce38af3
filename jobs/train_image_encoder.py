"""spark-submit entry point for `skysift train-image-encoder` (see lib/skysift/stages/train_image_encoder/job.py)."""
from skysift.cli import job_main

if __name__ == "__main__":
    job_main("train-image-encoder")
