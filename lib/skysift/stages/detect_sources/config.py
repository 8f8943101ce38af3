"""Configuration of `skysift detect-sources`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require
from skysift.detection.merge import MergeConfig
from skysift.detection.sources import WcsCheckConfig
from skysift.detection.tile_pass import TilePassConfig
from skysift.xmatch.catalogs import MAX_RADIUS_ARCSEC


@dataclass(frozen=True)
class DetectSourcesConfig:
    """Configuration of `skysift detect-sources` (conf/detect_sources.yaml names the source of each default)."""

    input: str = ""
    """Tiles to detect on: the output folder of `skysift ingest-frames` (tiles/ + fields/), or its tiles/ folder."""
    output: str = ""
    """Output folder (replaced as a whole on success): catalog/ (Parquet), hats/ (HATS), _unmatched/, _rejects/, _table.json."""
    catalog: str = ""
    """Photometric catalog (Parquet file or folder, photoObj-like) to match the sources to; '' = none: every source
    goes to catalog/ with null match columns (a field nobody catalogued)."""
    detector_uri: str = "models:/skysift-detector@champion"
    """The detector: models:/NAME@ALIAS or /VERSION, runs:/..., a YOLO .pt file or a train-detector output folder."""
    classifier_uri: str = "models:/skysift-classifier@champion"
    """The classifier: models:/NAME@ALIAS or /VERSION, runs:/..., or a train-classifier output folder."""
    detector: TilePassConfig = field(default_factory=TilePassConfig)
    """Inference settings of the tile pass (confidence, batch of tiles per forward pass, crops)."""
    merge: MergeConfig = field(default_factory=MergeConfig)
    """Tile-overlap merge inside a frame: NMS IoU and the 2-pixel same-source rule (Zhao et al. 2025)."""
    dedupe_radius_arcsec: float = 0.5
    """Sources of overlapping frames closer than this are one (Zhao et al. 2025: 0.5 arcsec); the best score is kept."""
    match_radius_arcsec: float = 2.0
    """Nearest catalog row within this radius (Zhao et al. 2025: 2 arcsec to PhotoObjAll)."""
    catalog_id_column: str = "objid"
    """Integer id column of the catalog (written as objid)."""
    catalog_ra_column: str = "ra"
    """Catalog right ascension column, ICRS degrees."""
    catalog_dec_column: str = "dec"
    """Catalog declination column, ICRS degrees."""
    catalog_columns: tuple[str, ...] = ("type", "psfMag_u", "psfMag_g", "psfMag_r", "psfMag_i", "psfMag_z",
                                        "modelMag_r", "petroMag_r")
    """Catalog columns copied onto matched sources (Zhao et al. 2025 enrich the catalog with PhotoObjAll's
    magnitudes and type); names absent from the catalog are an error."""
    wcs_check: WcsCheckConfig = field(default_factory=WcsCheckConfig)
    """When a frame's WCS is flagged as disagreeing with the catalog (summary ``wcs_flagged``)."""
    hats: bool = True
    """Also write the catalog as HATS (hats/, LSDB reads it) beside the Parquet catalog/."""
    hats_pixel_threshold: int = 1_000_000
    """HATS: most rows in one partition pixel."""
    device: Literal["auto", "cpu"] = "auto"
    """auto: the task's GPU from Spark resources, else CUDA when visible, else CPU (runtime.spark.task_device)."""
    torch_threads: int = 0
    """torch threads per task on CPU; 0 = the task's CPUs (spark.task.cpus), 1 outside Spark tasks."""
    reader: Literal["pyarrow", "spark"] = "pyarrow"
    """How the tile pass reads the tiles. pyarrow: tasks over the tile table's row groups, read in the Python
    workers; spark: Spark reads the Parquet, mapInArrow hands the batches over. On 204 tiles of 320 px (2 quiet
    cores) Spark's JVM took 1.9 s to hand the tiles over where pyarrow read them in 0.4 s, and its 3 file splits
    left one of the two workers idle for a third of the pass (BENCHMARKS.md, issue 15)."""
    tiles_per_task: int = 64
    """Tiles per tile-pass task with reader=pyarrow (at least two tasks per core are cut for balance)."""
    resume: bool = True
    """reader=pyarrow and the sequential twin: a rerun after a kill keeps the tile-pass tasks that finished
    (their detections files and completion markers) when config, input files, models and task count are
    unchanged; the steps after the tile pass run again (RELIABILITY.md). false starts afresh; reader=spark
    always does."""
    yolo_config_dir: str = ""
    """Writable YOLO_CONFIG_DIR on the executors ('' = a folder under the temp dir)."""
    target_rows_per_group: int = 200_000
    """Rows per cross-match task (xmatch engine, dedupe and catalog match)."""
    sample_rows: int = 200_000
    """Planning points per side of the cross-match."""
    max_links: int = 20_000_000
    """Most cross-frame pairs brought to the driver for the 0.5 arcsec groups."""
    driver_steps_max_rows: int = 200_000
    """When the tile pass returns at most this many whole detections, the merge, the cross-frame rule and the
    catalog match run in the driver (the same kernels as the sequential twin): those rows are ~100 bytes each, and
    the ten-odd Spark jobs of those steps cost 43 s of fixed overhead for 200 tiles on the loaded 2-core machine
    (BENCHMARKS.md). 0 = always on Spark."""
    driver_catalog_max_rows: int = 2_000_000
    """... and when the photometric catalog has at most this many rows (the driver path reads its id, position and
    carried columns into memory: ~160 MB at 2M rows; skysift choice)."""

    def __post_init__(self):
        require(bool(self.input), "input is required (--input INGEST_OUTPUT_OR_TILES)")
        require(self.tiles_per_task >= 1, f"tiles_per_task must be >= 1, got {self.tiles_per_task}")
        require(bool(self.output), "output is required (--output FOLDER)")
        require(bool(self.detector_uri) and bool(self.classifier_uri), "detector_uri and classifier_uri must not be empty")
        require(0 < self.dedupe_radius_arcsec <= MAX_RADIUS_ARCSEC, f"dedupe_radius_arcsec must be in (0, {MAX_RADIUS_ARCSEC:.0f}], got {self.dedupe_radius_arcsec}")
        require(0 < self.match_radius_arcsec <= MAX_RADIUS_ARCSEC, f"match_radius_arcsec must be in (0, {MAX_RADIUS_ARCSEC:.0f}], got {self.match_radius_arcsec}")
        require(bool(self.catalog_id_column) and bool(self.catalog_ra_column) and bool(self.catalog_dec_column),
                "catalog_id_column, catalog_ra_column and catalog_dec_column must not be empty")
        require(len(set(self.catalog_columns)) == len(self.catalog_columns), f"catalog_columns repeat a name: {list(self.catalog_columns)}")
        from skysift.schema.detection import SOURCES

        clash = sorted(set(self.catalog_columns) & ({self.catalog_id_column, self.catalog_ra_column, self.catalog_dec_column}
                                                    | set(SOURCES.names)))
        require(not clash, f"catalog_columns must not name the id / position columns or a source column: {clash}")
        require(self.device in ("auto", "cpu"), f"device must be auto or cpu, got {self.device!r}")
        require(self.torch_threads >= 0, f"torch_threads must be >= 0, got {self.torch_threads}")
        require(self.hats_pixel_threshold >= 1, "hats_pixel_threshold must be >= 1")
        require(self.driver_steps_max_rows >= 0 and self.driver_catalog_max_rows >= 0,
                "driver_steps_max_rows and driver_catalog_max_rows must be >= 0")
        require(self.target_rows_per_group >= 16 and self.sample_rows >= 100 and self.max_links >= 1,
                "target_rows_per_group >= 16, sample_rows >= 100 and max_links >= 1 are required")
