"""`skysift search-images`: Top-k most similar images for query images or a sky position: faiss candidates re-ranked by Friberg's combined score, or the paper's exhaustive scan."""
