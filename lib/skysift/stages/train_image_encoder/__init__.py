"""`skysift train-image-encoder`: Self-supervised contrastive training of the GalaxIDNet image ViT on an images table (driver side), logged to MLflow and registered as NAME@champion."""
