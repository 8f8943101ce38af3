"""`skysift train-detector`: one-class YOLOv8 (ultralytics, offline) on pasted synthetic tiles with magnitude boxes, logged to MLflow and registered as skysift-detector@champion."""
