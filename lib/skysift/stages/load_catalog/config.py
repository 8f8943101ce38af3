"""Configuration of `skysift load-catalog`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from skysift.config import require
from skysift.io.catalog_readers import CatalogFormat


@dataclass(frozen=True)
class LoadCatalogConfig:
    """Configuration of `skysift load-catalog`."""

    input: str = ""
    """Catalog file (csv / fits / votable) or Parquet table."""
    output: str = ""
    """Labels table folder to write."""
    format: CatalogFormat = "csv"
    """csv | fits | votable | parquet."""
    catalog_name: str = ""
    """Value of the `catalog` column; empty = the input file's name."""
    task: str = "class"
    """Value of the `task` column: bpt | agn3 | lens | outlier | class | ..."""
    key: Literal["spec_id", "position"] = "spec_id"
    """Match catalog rows to spectra by spec_id, or by nearest sky position within match_radius_arcsec."""
    spec_id_column: str = "spec_id"
    """Catalog column holding spec_id (key = spec_id, no template)."""
    spec_id_template: str = ""
    """Build spec_id from columns, e.g. 'sdss-{plate:04d}-{mjd}-{fiberid:04d}' (skysift's SDSS id)."""
    ra_column: str = "ra"
    """Right ascension column, degrees."""
    dec_column: str = "dec"
    """Declination column, degrees."""
    z_column: str = ""
    """Redshift column (optional, kept for provenance)."""
    label_from: Literal["column", "bpt"] = "column"
    """Take the label from label_column, or compute the BPT class from the line-flux columns."""
    label_column: str = "class"
    """Column holding the label (label_from = column)."""
    label_map: tuple[str, ...] = ()
    """'from:to' pairs applied to labels; a target of '-' excludes that class (rejected, counted)."""
    unmapped: Literal["keep", "reject"] = "keep"
    """Labels not in label_map: keep them unchanged, or reject the row."""
    fill_missing_label: str = ""
    """Label for rows whose label is missing (e.g. 'normal' for an outlier subtype column); empty = reject."""
    bpt_hb_column: str = "flux_hb_4861"
    """H beta flux column (label_from = bpt)."""
    bpt_oiii_column: str = "flux_oiii_5007"
    """[O III] 5007 flux column."""
    bpt_ha_column: str = "flux_ha_6563"
    """H alpha flux column."""
    bpt_nii_column: str = "flux_nii_6584"
    """[N II] 6584 flux column."""
    bpt_sii_columns: tuple[str, ...] = ("flux_sii_6717", "flux_sii_6731")
    """[S II] columns, summed (Kewley 2006 uses 6717+6731); empty = no [S II] diagram."""
    bpt_oi_column: str = "flux_oi_6300"
    """[O I] 6300 flux column; empty = no [O I] diagram."""
    na_values: tuple[str, ...] = ("-", "null", "NULL", "None")
    """Extra strings read as missing in CSV catalogs (lenscat writes '-')."""
    match_table: str = ""
    """Spectra table (spec_id, ra_deg, dec_deg) to match positions against (key = position)."""
    match_radius_arcsec: float = 2.0
    """Position-match radius (SDSS fibre diameter 3'' -> 2'' cross-match, DESIGN.md default)."""

    def __post_init__(self):
        require(bool(self.input), "load-catalog needs --input FILE")
        require(bool(self.output), "load-catalog needs --output DIR")
        require(self.match_radius_arcsec > 0, f"match_radius_arcsec must be > 0, got {self.match_radius_arcsec}")
        for pair in self.label_map:
            require(":" in pair, f"label_map entry {pair!r} must be 'from:to'")
        require(
            self.key != "position" or bool(self.match_table),
            "key=position needs --set match_table=SPECTRA_TABLE (spec_id, ra_deg, dec_deg)",
        )
        require(bool(self.task), "task must not be empty")
