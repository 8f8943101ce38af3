"""`skysift build-image-index`: Pooled image vectors -> a sharded faiss image index (the kb engine) whose ID maps point at the patch features."""
