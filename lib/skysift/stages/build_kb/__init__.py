"""`skysift build-kb`: Embeddings + labels -> a sharded faiss knowledge base (flat/ivfpq/hnsw/pq) built on the executors."""
