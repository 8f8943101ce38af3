"""`skysift pretrain`: Masked-patch Transformer pre-training on a spectra table (DDP), logged to MLflow and registered as NAME@champion."""
