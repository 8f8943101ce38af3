"""Configuration of `skysift find-emission-lines` (Lu et al. 2022; every number's source in conf/find_emission_lines.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skysift.config import require
from skysift.kb.pq_index import TABLE1_NAMES, PQRun
from skysift.spectra.line_finding import LineFindingConfig
from skysift.spectra.line_fluxes import LineFluxConfig
from skysift.spectra.line_redshift import LineRedshiftConfig
from skysift.xmatch.catalogs import MAX_RADIUS_ARCSEC

C_KMS = 299792.458


@dataclass(frozen=True)
class PQSearchConfig:
    """The PQ template search (Lu et al. 2022 section 3.1, Table 1)."""

    configurations: tuple[str, ...] = TABLE1_NAMES
    """PQ runs as STEP/SEGMENTS/K (Lu et al. 2022 Table 1: all 12 by default)."""
    normalisation: Literal["l2", "lu2022"] = "l2"
    """Search vectors: l2 = f / sqrt(sum f^2) (skysift default: the printed f / sum f^2 is not scale-invariant,
    note A1) or lu2022 (the paper's formula as printed)."""
    metric: Literal["squared", "l2_sum"] = "squared"
    """squared: standard ADC (sum of squared segment distances, skysift default); l2_sum: the paper's worked
    example, a sum of per-segment L2 norms (note A2)."""
    train_on: Literal["driver", "executors"] = "driver"
    """Where the per-segment K-means run: the driver (one process) or executor tasks over slices of segments
    (measured in the job's docstring)."""
    segments_per_task: int = 50
    """train_on=executors: segments trained by one task (skysift choice)."""
    kmeans_iterations: int = 20
    """K-means iterations per segment (not stated in the paper: skysift choice, faiss's default is 25)."""
    seed: int = 1234
    """K-means seed; segment m uses seed + m."""
    z_agreement: float = 0.001
    """|z_cl - z_rt| must be below this (Lu et al. 2022: "0.001 as the matching threshold"; < not stated)."""
    query_batch_rows: int = 512
    """Queries scored together on an executor (bounds the distance tables: M x K x 4 bytes each)."""
    index: Literal["pq", "ivfpq"] = "pq"
    """pq: the paper's plain PQ with the run's exact K, every template scored (ADC); ivfpq: beyond the paper,
    faiss IndexIVFPQ per run (a coarse quantiser, residual codes, K rounded up to a power of two; always
    trained on the driver, squared distances), ``ivf_probe`` cells scored per query (kb.pq_index)."""
    ivf_lists: int = 0
    """index=ivfpq: coarse cells; 0 = about 4 sqrt(templates) (skysift choice, faiss's guideline)."""
    ivf_probe: int = 2
    """index=ivfpq: cells scored per query (skysift choice: with refine 10, probe 2 gave 0.92 / 0.96 z agreement
    with exact search on the CL-redshift queries at 6x / 12x its speed on 8,000 / 20,000 templates; BENCHMARKS.md)."""
    ivf_refine: int = 10
    """index=ivfpq: PQ candidates re-ranked by the exact distance (0 = none; the full template vectors are then
    kept in the index, D x 4 bytes each; skysift choice, see ivf_probe)."""

    def runs(self) -> tuple[PQRun, ...]:
        """The configurations parsed."""
        return tuple(PQRun.parse(c) for c in self.configurations)

    def __post_init__(self):
        require(len(self.configurations) >= 1, "pq.configurations must name at least one STEP/SEGMENTS/K")
        try:
            names = [r.name for r in self.runs()]
        except ValueError as exc:
            require(False, f"pq.configurations: {exc}")
        require(len(set(names)) == len(names), f"pq.configurations repeats a run: {list(self.configurations)}")
        require(0 < self.z_agreement < 0.05, f"pq.z_agreement must be in (0, 0.05), got {self.z_agreement}")
        require(self.segments_per_task >= 1, "pq.segments_per_task must be >= 1")
        require(self.kmeans_iterations >= 1, "pq.kmeans_iterations must be >= 1")
        require(self.query_batch_rows >= 1, "pq.query_batch_rows must be >= 1")
        require(self.index in ("pq", "ivfpq"), f"pq.index must be pq or ivfpq, got {self.index!r}")
        require(self.ivf_lists >= 0, f"pq.ivf_lists must be >= 0 (0 = automatic), got {self.ivf_lists}")
        require(self.ivf_probe >= 1, f"pq.ivf_probe must be >= 1, got {self.ivf_probe}")
        require(self.ivf_refine >= 0, f"pq.ivf_refine must be >= 0, got {self.ivf_refine}")
        require(self.index == "pq" or self.metric == "squared",
                "pq.index=ivfpq scores squared distances only; set pq.metric=squared")
        require(self.index == "pq" or self.train_on == "driver",
                "pq.index=ivfpq trains on the driver (faiss trains the whole index); set pq.train_on=driver")


@dataclass(frozen=True)
class InspectionConfig:
    """The automatic substitute for the paper's visual inspection (16,188 -> 10,266 spectra): a candidate is
    kept when it passes every cut below (job docstring: the rule and its measured effect on purity)."""

    enabled: bool = True
    """false: keep every PQ-confirmed candidate (the paper's count before inspection)."""
    min_quality: float = 10.0
    """Smallest combined S/N sqrt(sum snr^2) of the lines behind z_cl (not in the paper: skysift choice; three
    lines at the detection cut of 5 give 8.7)."""
    min_line_width_angstrom: float = 2.0
    """Smallest mean width (end - start) of the lines behind z_cl, Angstrom: a cosmic ray is one or two pixels
    (not in the paper: skysift choice, one pixel of the 2 A grid; real lines measured 3-19 A on the pool)."""
    max_sky_lines: int = 1
    """Most lines behind z_cl that may sit on a night-sky line (not in the paper: skysift choice): sky
    residuals at Na D 5897, OH 7753 and 7916 A mimic [O III], [N II] and [S II] at z = 0.178 (seen on the pool)."""
    sky_lines_angstrom: tuple[float, ...] = (5578.89, 5891.58, 5897.55, 6302.04, 6365.54, 7318.30, 7342.91, 7752.77,
                                             7796.25, 7915.89, 7995.53, 8346.89, 8401.48, 8432.49, 8829.52, 8888.29)
    """Night-sky lines, vacuum Angstrom (Osterbrock et al. 1996, air values converted; skysift choice)."""
    sky_half_width_angstrom: float = 4.0
    """A line within this of a night-sky line sits on it (skysift choice: two pixels of the 2 A grid)."""
    min_configs_agree: int = 1
    """Fewest PQ configurations whose z_rt agrees (not in the paper: skysift choice; 1 = any, as the paper's
    union of the 12 result files)."""

    def __post_init__(self):
        require(self.min_quality >= 0, "inspection.min_quality must be >= 0")
        require(self.min_line_width_angstrom >= 0, "inspection.min_line_width_angstrom must be >= 0")
        require(self.min_configs_agree >= 1, "inspection.min_configs_agree must be >= 1")
        require(self.max_sky_lines >= 0, "inspection.max_sky_lines must be >= 0")
        require(self.sky_half_width_angstrom >= 0, "inspection.sky_half_width_angstrom must be >= 0")


@dataclass(frozen=True)
class RegionCatalogConfig:
    """The H II region catalog (Lu et al. 2022: WISE HIICat V2; here any table with these columns)."""

    path: str = ""
    """Parquet / CSV / FITS / VOTable file or Parquet folder; empty: H II by the diagnostic only."""
    format: Literal["parquet", "csv", "fits", "votable"] = "parquet"
    """File format."""
    name_column: str = "name"
    """Region name (WISE: Gllll.lll+bb.bbb)."""
    type_column: str = "type"
    """Region type: K (known) or G / C / Q (candidates) in WISE HIICat."""
    ra_column: str = "ra_deg"
    """Right ascension, ICRS degrees."""
    dec_column: str = "dec_deg"
    """Declination, ICRS degrees."""
    radius_column: str = "radius_arcsec"
    """Region radius in arcsec: a spectrum is inside when its separation is <= it (per-row radius match)."""
    known_type: str = "K"
    """Type of already-known regions; a region of any other type with spectra in it is new (Lu et al. 2022)."""

    def __post_init__(self):
        require(self.format in ("parquet", "csv", "fits", "votable"),
                f"hii_regions.format must be parquet, csv, fits or votable, got {self.format!r}")


@dataclass(frozen=True)
class ReferenceCatalogConfig:
    """One reference catalog of the "new" test (Lu et al. 2022: CDS/SIMBAD, SDSS, NED) and its column map."""

    name: str = ""
    """Short name; output columns are NAME_id, NAME_type, NAME_z, NAME_z_err, NAME_sep_arcsec, NAME_<extra>."""
    path: str = ""
    """Parquet / CSV / FITS / VOTable file or Parquet folder."""
    format: Literal["parquet", "csv", "fits", "votable"] = "parquet"
    """File format."""
    ra_column: str = "ra"
    """Right ascension column, ICRS degrees."""
    dec_column: str = "dec"
    """Declination column, ICRS degrees."""
    id_column: str = ""
    """Identifier column (Table 3: simbad_id, SDSS_id, NED_name)."""
    type_column: str = ""
    """Object type column (Table 3: simbad_type, SDSS_type, NED_type); empty: none."""
    z_column: str = ""
    """Redshift column; empty: none."""
    z_err_column: str = ""
    """Redshift error column; empty: none."""
    extra_columns: tuple[str, ...] = ()
    """More columns copied as NAME_<column> (Table 3: SDSS_prtrRad)."""
    radius_arcsec: float = 3.0
    """Match radius (not stated in the paper: skysift choice, 3 arcsec, the note's decision)."""

    def mapped(self) -> dict[str, str]:
        """{output role: catalog column} of the configured columns."""
        roles = {"id": self.id_column, "type": self.type_column, "z": self.z_column, "z_err": self.z_err_column}
        out = {role: col for role, col in roles.items() if col}
        out.update({c: c for c in self.extra_columns})
        return out

    def __post_init__(self):
        require(bool(self.name) and self.name.isidentifier(),
                f"reference catalog name must be a short identifier (it prefixes columns), got {self.name!r}")
        require(bool(self.path), f"reference catalog {self.name}: path is required")
        require(bool(self.id_column), f"reference catalog {self.name}: id_column is required")
        require(0 < self.radius_arcsec <= MAX_RADIUS_ARCSEC,
                f"reference catalog {self.name}: radius_arcsec must be in (0, {MAX_RADIUS_ARCSEC:.0f}]")


@dataclass(frozen=True)
class FindEmissionLinesConfig:
    """Configuration of `skysift find-emission-lines`."""

    input: str = ""
    """Spectra table to search (ingest-spectra / synth-survey output) on a linear observed grid."""
    templates: str = ""
    """Spectra table of templates whose ``z`` is a published redshift, on the same grid as ``input``."""
    output: str = ""
    """Output folder (replaced as a whole on success): one table per stage, catalogs/, _rejects, _table.json."""
    line_finding: LineFindingConfig = field(default_factory=LineFindingConfig)
    """Median continuum, sliding window, the "1/10" threshold and the S/N, contrast and sky cuts."""
    line_redshift: LineRedshiftConfig = field(default_factory=LineRedshiftConfig)
    """The CL redshift: >= 3 of the six lines agreeing within 0.001 (Lu et al. 2022)."""
    line_fluxes: LineFluxConfig = field(default_factory=LineFluxConfig)
    """Line fluxes at z_cl for the BPT and H II ratios (Gaussian fit by default)."""
    pq: PQSearchConfig = field(default_factory=PQSearchConfig)
    """The PQ template search and the z agreement."""
    inspection: InspectionConfig = field(default_factory=InspectionConfig)
    """The automatic substitute for visual inspection."""
    low_velocity_kms: float = 500.0
    """Low-velocity set: z_cl and z_rt both below this / c (Lu et al. 2022: 500 km/s, the LAMOST 1D pipeline's
    standard)."""
    hii_regions: RegionCatalogConfig = field(default_factory=RegionCatalogConfig)
    """The H II region catalog (per-row radius match)."""
    reference_catalogs: tuple[ReferenceCatalogConfig, ...] = ()
    """Catalogs a galaxy is looked up in; a galaxy in none is new (Lu et al. 2022: CDS, SDSS, NED)."""
    seyfert_liner: Literal["schawinski07", "kewley06"] = "schawinski07"
    """AGN split (not stated in the paper: the note's decision, Schawinski 2007 on the [N II] diagram; kewley06
    needs [S II] and gives 'agn' without it)."""
    dedupe_radius_arcsec: float = 2.0
    """Spectra closer than this are one unique source (not stated in the paper: skysift choice, below the
    3 arcsec LAMOST fibre)."""
    catalog_formats: tuple[str, ...] = ("parquet", "fits", "hats")
    """Formats of the galaxy and H II catalogs (io.catalog_writers: parquet, hats, fits, votable)."""
    arrow_batch_rows: int = 256
    """Spectra per Arrow batch of the line-finding and scoring tasks (a 2500-point row is ~20 kB)."""
    driver_threads: int = 1
    """faiss threads on the driver (1 measured 10x faster than 2 on this busy 2-core machine)."""
    rows_per_task: int = 4_000
    """Spectra per line-search / scoring task, whole Parquet row groups of the input (at least two tasks per
    core): ~6 s of line search on one core at ~1.4 ms a spectrum (BENCHMARKS.md, issue 13), so a kill loses
    little and a task's files are small."""
    resume: bool = True
    """A rerun after a kill (same config, input and template files, task count) keeps the line-search and
    scoring tasks and the trained PQ runs that completed (markers in the staging folder) and redoes the rest;
    the stages after scoring run again whole. ``--set resume=false`` starts afresh (RELIABILITY.md)."""
    spark_match_min_rows: int = 100_000
    """The region and reference cross-matches run as Spark jobs only when the confirmed spectra plus the
    catalogs' rows reach this; below it the same engine runs on the driver, which holds the frames already
    (skysift choice: in the demo, 177 confirmed spectra against ~700 catalog rows took 60 s as five Spark jobs
    on the loaded 2-core machine; 0 = always Spark)."""
    report: bool = True
    """Write OUTPUT/report/report.html (flow chart of the stage counts, BPT diagram, redshift comparisons)."""

    def __post_init__(self):
        require(bool(self.input), "input is required (--input SPECTRA_TABLE)")
        require(bool(self.templates), "templates is required (--templates TEMPLATES_TABLE)")
        require(bool(self.output), "output is required (--output DIR)")
        require(self.low_velocity_kms > 0, f"low_velocity_kms must be > 0, got {self.low_velocity_kms}")
        require(0 < self.dedupe_radius_arcsec <= MAX_RADIUS_ARCSEC,
                f"dedupe_radius_arcsec must be in (0, {MAX_RADIUS_ARCSEC:.0f}]")
        names = [c.name for c in self.reference_catalogs]
        require(len(set(names)) == len(names), f"reference catalog names repeat: {names}")
        require(all(f in ("parquet", "hats", "fits", "votable") for f in self.catalog_formats),
                f"catalog_formats must be among parquet, hats, fits, votable, got {list(self.catalog_formats)}")
        require(self.arrow_batch_rows >= 1, "arrow_batch_rows must be >= 1")
        require(self.driver_threads >= 1, "driver_threads must be >= 1")
        require(self.rows_per_task >= 1, "rows_per_task must be >= 1")
        require(self.spark_match_min_rows >= 0, "spark_match_min_rows must be >= 0 (0 = always Spark)")

    @property
    def low_velocity_z(self) -> float:
        """low_velocity_kms / c (500 km/s: 0.0016678)."""
        return self.low_velocity_kms / C_KMS
