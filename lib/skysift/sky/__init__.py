"""Sky geometry kernels (numpy, no Spark): HEALPix cells and buckets, great-circle separation, pair finding."""
