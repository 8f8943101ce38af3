"""`skysift embed-spectra`: Embeddings of a spectra table with a registered encoder, computed on the executors."""
