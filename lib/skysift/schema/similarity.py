"""Image-similarity tables: `image_vectors` (embed-images), `image_index_entries` (build-image-index) and
`image_matches` (search-images). Their inputs are images tables: `stamps` (schema.imaging_survey) and
`cutouts` (schema.images)."""
from __future__ import annotations

import pyarrow as pa

from skysift.schema.common import COLUMN_DOCS

IMAGE_VECTORS = pa.schema(
    [
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("ra_deg", pa.float64()),
        pa.field("dec_deg", pa.float64()),
        pa.field("embedding", pa.list_(pa.float32())),
        pa.field("model_uri", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("features_file", pa.string()),
        pa.field("features_row", pa.int32()),
        pa.field("source_file", pa.string()),
    ]
)
IMAGE_INDEX_ENTRIES = pa.schema(
    [
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("ra_deg", pa.float64()),
        pa.field("dec_deg", pa.float64()),
        pa.field("features_uri", pa.string()),
        pa.field("features_row", pa.int32()),
        pa.field("model_version", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("shard", pa.int32(), nullable=False),
        pa.field("local_id", pa.int64(), nullable=False),
    ]
)
IMAGE_MATCHES = pa.schema(
    [
        pa.field("query_id", pa.string(), nullable=False),
        pa.field("rank", pa.int16(), nullable=False),
        pa.field("image_id", pa.string()),
        pa.field("similarity", pa.float32()),
        pa.field("cos", pa.float32()),
        pa.field("l2", pa.float32()),
        pa.field("l3", pa.float32()),
        pa.field("mode", pa.string()),
        pa.field("index_version", pa.string()),
    ]
)
COLUMN_DOCS.update(
    {
        "image_id": "id of an image: its images table's image_id, stamp_id or object_id as text (image_vectors, ...)",
        "similarity": "Friberg's combined similarity w1 cos + w2 / (1 + l2) + w3 / (1 + l3) of query and match",
        "features_file": "patch-feature file (relative to the image_vectors table) holding the image's (P, F) features",
        "features_row": "row of the image in its patch-feature file (features_file / features_uri)",
        "features_uri": "patch-feature file of the entry (absolute URI, as build-image-index resolved it)",
        "query_id": "id of the query image (search-images): an image_id, a file name or ra/dec",
        "rank": "1-based rank of the match, best first (search-images)",
        "cos": "per-patch cosine of the query's and the match's patch features, averaged over patches (Friberg)",
        "l2": "per-patch Euclidean distance of the patch features, averaged over patches (Friberg)",
        "l3": "per-patch Minkowski p = 3 distance of the patch features, averaged over patches (Friberg)",
        "mode": "faiss (candidates from the pooled-vector index, re-ranked by the combined score) | exhaustive",
        "index_version": "content hash of the image index that answered the query",
    }
)
