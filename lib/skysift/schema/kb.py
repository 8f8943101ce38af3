"""Knowledge-base tables: `labels`, `kb_entries`, `predictions` and `embeddings`."""
from __future__ import annotations

import pyarrow as pa

from skysift.schema.common import COLUMN_DOCS

# --- labels / kb_entries / predictions: the knowledge base and target search (issue 6)
LABELS = pa.schema(
    [
        pa.field("spec_id", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("task", pa.string()),
        pa.field("catalog", pa.string()),
        pa.field("ra_deg", pa.float64()),
        pa.field("dec_deg", pa.float64()),
        pa.field("z", pa.float64()),
        pa.field("match_sep_arcsec", pa.float64()),
    ]
)
KB_ENTRIES = pa.schema(
    [
        pa.field("spec_id", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("task", pa.string()),
        pa.field("catalog", pa.string()),
        pa.field("ra_deg", pa.float64()),
        pa.field("dec_deg", pa.float64()),
        pa.field("z", pa.float64()),
        pa.field("model_version", pa.string()),
        pa.field("shard", pa.int32(), nullable=False),
        pa.field("local_id", pa.int64(), nullable=False),
    ]
)
PREDICTIONS = pa.schema(
    [
        pa.field("spec_id", pa.string(), nullable=False),
        pa.field("label", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("neighbor_ids", pa.list_(pa.string())),
        pa.field("neighbor_labels", pa.list_(pa.string())),
        pa.field("neighbor_distances", pa.list_(pa.float32())),
        pa.field("kb_version", pa.string()),
    ]
)
COLUMN_DOCS.update(
    {
        "label": "class label of a reference object (labels, kb_entries) or the KB vote's prediction (predictions)",
        "task": "labelling task the label belongs to: bpt | agn3 | lens | outlier | class | ... (from load-catalog)",
        "catalog": "reference catalog the label came from (load-catalog's catalog_name)",
        "match_sep_arcsec": "separation of a position match in arcsec (null when matched by spec_id)",
        "model_version": "version of the encoder that produced the embedding (embeddings table)",
        "shard": "KB shard (faiss index file shards/shard-NNNNN.faiss) holding the entry",
        "local_id": "row of the entry inside its shard index (faiss id)",
        "score": "KB vote score of the predicted label: sum of softmax(exp(-d)) weights of its neighbours, in (0, 1]",
        "neighbor_ids": "spec_id of the K nearest KB entries, nearest first",
        "neighbor_labels": "labels of the K nearest KB entries, nearest first",
        "neighbor_distances": "Euclidean (L2, not squared) embedding distances to the K nearest KB entries",
        "kb_version": "content hash of the KB (shard files + entries) that answered the query",
    }
)

# --- embeddings: one encoder embedding per spectrum (embed-spectra, issue 5)
EMBEDDINGS = pa.schema(
    [
        pa.field("spec_id", pa.string(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32())),
        pa.field("model_uri", pa.string()),
        pa.field("model_version", pa.string()),
    ]
)
COLUMN_DOCS.update(
    {
        "embedding": "float32 encoder embedding (length D), patch tokens pooled as embed-spectra's `pooling`",
        "model_uri": "model the embedding came from as given (models:/NAME@ALIAS, runs:/..., or a path)",
    }
)


