"""faiss knowledge bases keyed by a generic id column: build, search, vote, product quantisation."""
