"""Background lines in the residual of a spectrum after subtracting its nearest KB neighbours (issue 19 extension).

Not in Tang et al. 2025: an extension beyond the paper, which the KB may add where the plain vote cannot reach
the paper's lens recall. A lens candidate is a foreground galaxy whose spectrum also holds a few emission lines of
a galaxy behind it; in the foreground's rest frame they sit at lambda_0 (1 + z_s) / (1 + z_l), i.e. at a
"relative redshift" z_rel = (1 + z_s) / (1 + z_l) - 1 > 0. The embedding of such a spectrum is dominated by the
foreground, so its nearest NON-target KB entries look like its foreground: their weighted least-squares
combination (ivar weights, a small ridge) is a model of the foreground; what it leaves is the background. The
background lines are then looked for there:

1. residual r = f - sum_j a_j g_j over the ``neighbours`` nearest non-target entries g_j (rest-frame grid);
   chi = r sqrt(ivar) (unit noise where the ivar is right);
2. pixels within ``veto_angstrom`` of the foreground's own emission lines (rest frame) are left out: the
   neighbours' line strengths never match the query's, so residuals there are the foreground's, not a lens's;
3. ``method=joint_scan`` (the default): ``kb.joint_line_scan`` -- a matched filter of the residual and, at
   every trial z_rel on a fine grid in ``z_min..z_max``, the S/N of the background lines ([O II], Hbeta,
   [O III] 4960 + 5008, Halpha) at their predicted centres added up, at least ``min_lines`` of them at
   ``line_snr``; the best trial's sqrt(sum S/N^2) is the lens score (SLACS / BELLS style);
4. ``method=blind`` (the first version): ``spectra.line_finding.find_lines_in_residual`` on chi (unit ivar)
   with a fixed threshold of ``threshold_sigma`` (peaks above it whose range sum reaches ``min_line_snr``),
   then ``spectra.line_redshift.line_redshifts`` on those lines with the background line list, at least
   ``min_lines`` agreeing within ``z_tolerance`` at ``z_min <= z_rel <= z_max``; its quality sqrt(sum S/N^2)
   is the lens score. It misses pairs of lines at S/N 3-5 that the joint scan finds (BENCHMARKS.md, issue 19).

``residual_anomaly`` is the second number, the one the outlier search uses: the 99th percentile of
|residual| / sigma over the good pixels, sigma including a few per cent of the model as an error floor (a
spectrum that its nearest normal neighbours cannot reproduce somewhere: a broken continuum, spikes, extra broad
or narrow features).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from skysift.config import require

FOREGROUND_LINES_ANGSTROM = (3728.5, 3869.9, 4102.9, 4341.7, 4862.7, 4960.3, 5008.2, 5877.3, 6302.1, 6365.5,
                             6549.9, 6564.6, 6585.3, 6718.3, 6732.7)
"""Rest wavelengths (vacuum) of a foreground galaxy's own lines, vetoed in the residual ([O II] ... [S II])."""
BACKGROUND_LINES = ("[OII]3728", "Hbeta", "[OIII]4960", "[OIII]5008", "Halpha")
"""The background galaxy's lines (``spectra.line_list`` names) the line redshift is built from."""


@dataclass(frozen=True)
class ResidualLineConfig:
    """Background-line search in the residual after the nearest non-target KB neighbours are subtracted."""

    candidates: int = 32
    """Nearest non-target KB entries (in the embedding) from which the foreground neighbours are chosen."""
    select_by_flux: bool = True
    """Choose the ``neighbours`` among the candidates by their flux: the smallest chi^2 to the query after the
    best scale factor (covering the query's pixels); False = the embedding's order."""
    neighbours: int = 8
    """Nearest non-target KB entries whose combination models the foreground (skysift choice: 8 fit a
    foreground's continuum and absorption to ~the noise on the synthetic survey; 3 leave visible structure)."""
    ridge: float = 1e-3
    """Ridge of the least-squares fit, relative to the mean diagonal of the normal matrix (stabilises nearly
    identical neighbours)."""
    continuum_window_angstrom: float = 100.0
    """Full width of the running median subtracted from the residual before line finding (the emission-line
    pipeline's own continuum step, spectra.continuum): it takes out what the neighbours' combination leaves of
    a continuum mismatch, which is broad, and keeps lines, which are narrow; 0 = off."""
    veto_angstrom: float = 6.0
    """Half-width of the veto around each foreground line, Angstrom rest (skysift choice: the line's own bin
    and its neighbours on the 4.9 A grid; +-10 A took 2 % more of the background lines and kept no more away)."""
    threshold_sigma: float = 2.0
    """blind: pixels of chi above this are line candidates (line_finding's threshold, here fixed in noise units)."""
    min_line_snr: float = 3.5
    """blind: smallest range S/N (sum of chi over the line's pixels / sqrt(pixels)) of a detected background line.
    Measured on white noise around smooth continua (the set-up of tests/kb/test_residual_lines.py, 200 spectra):
    threshold 1.5 / S/N 3 / tolerance 0.002 makes two agreeing "lines" in 8 % of noise-only spectra,
    2.0 / 3.5 / 0.001 in none, and still finds 60 % of three-line backgrounds at line S/N 4 (94 % with the
    loose cuts), all at line S/N 6."""
    min_contrast: float = 0.0
    """blind: smallest peak / local robust scatter of the residual (line_finding's contrast cut, window =
    continuum_window_angstrom): where the neighbours leave structure above the noise, its bumps are not lines."""
    min_lines: int = 2
    """Fewest agreeing background lines (BELLS / SLACS: several lines)."""
    z_tolerance: float = 0.001
    """blind: largest spread of the agreeing lines' relative redshifts (measured spread of S/N >= 4 lines on the 4.9 A
    grid: ~1e-4)."""
    method: str = "joint_scan"
    """How the background lines are searched: ``joint_scan`` (kb.joint_line_scan: a matched filter at every trial
    redshift, the lines' S/N added up there, as SLACS / BELLS do) or ``blind`` (the emission-line pipeline's
    per-line finding, then >= ``min_lines`` agreeing line redshifts; the first version). Measured on the reduced
    Tang et al. 2025 survey: BENCHMARKS.md, issue 19."""
    line_sigma_kms: float = 100.0
    """joint_scan: velocity width (sigma) of the matched filter's Gaussian, instrumental included (skysift
    choice: SDSS's ~65 km/s and a background galaxy's 40-100 km/s in quadrature give 76-119 km/s; on the 4.9 A
    rest grid the pixel's own width dominates below ~5,000 A, so the choice matters little)."""
    line_snr: float = 2.0
    """joint_scan: a line counts as detected at a trial redshift at this S/N (after the robust scaling); a trial
    needs ``min_lines`` of them (the score threshold, chosen on the KB, does the rest). Chosen by the KB's own
    F1 on the reduced Tang et al. 2025 survey: 1.5 / 2.0 / 2.5 / 3.0 gave 0.70 / 0.71 / 0.68 / 0.65 (min_cover 0.6,
    0.6, 0.6, 0.8); BENCHMARKS.md, issue 19."""
    z_step: float = 2e-4
    """joint_scan: step of the trial grid in ln(1 + z_rel) (1/7-1/3 of a 4.9 A pixel over 3,600-8,400 A; the
    trial centres are a quarter pixel apart)."""
    min_cover: float = 0.6
    """joint_scan: a line is scored at a trial only where this share of its profile lies on usable pixels
    (covered, not vetoed; KB F1 on the reduced survey 0.71 at 0.6, 0.70 at 0.8 with line_snr 2)."""
    scatter_window_angstrom: float = 300.0
    """joint_scan: full width of the running MAD that the matched-filter S/N map is divided by; 0 = off
    (measured on white noise without the floor: at 150 A the MAD of ~30 correlated pixels scatters enough to
    raise the noise-only score p99 from 4.7 (exact scale) to 6.0; at 300 A to 5.1)."""
    scatter_floor: float = 1.0
    """joint_scan: the robust scale is at least this (noise below the ivar's never raises an S/N)."""
    z_min: float = 0.03
    """Smallest relative redshift (1 + z_s) / (1 + z_l) - 1 searched."""
    z_max: float = 1.0
    """Largest relative redshift searched."""
    anomaly_floor: float = 0.05
    """Fractional model error added in quadrature to the noise for the outlier statistic (sigma^2 = 1 / ivar +
    (floor x model)^2): the neighbours never match a bright spectrum to better than a few per cent, which
    without a floor makes every high-S/N normal galaxy look anomalous (skysift choice, measured on the reduced
    Tang et al. 2025 survey: the p99 of |chi| of normal galaxies grows ~linearly with S/N, 0.05 flattens it)."""
    anomaly_percentile: float = 99.0
    """percentile: the outlier statistic is this percentile of |residual| / sigma over the good pixels."""
    anomaly_method: str = "multiscale"
    """The outlier statistic: ``multiscale`` (kb.multiscale_anomaly: box matched filters of several widths, the
    neighbours' own mismatch measured per width and wavelength on the normal KB entries) or ``percentile`` (the
    first version: ``anomaly_percentile`` of |residual| / sigma with the ``anomaly_floor``). Measured on the
    reduced Tang et al. 2025 survey: BENCHMARKS.md, issue 19."""
    anomaly_widths_px: tuple[int, ...] = (1, 3, 9, 27, 81)
    """multiscale: box widths in grid pixels (odd; 4.9 A each on the rest grid): a spike, a narrow line, a broad
    bump, a band, a continuum shape."""
    anomaly_min_cover: float = 0.6
    """multiscale: a box is scored where this share of its pixels is good."""
    anomaly_calibration_rows: int = 3000
    """multiscale: at most this many normal KB entries (a seeded draw) measure the mismatch of each width
    (memory: rows x widths x grid x 13 bytes)."""
    anomaly_lens_mask_score: float = 5.0
    """multiscale: where the lens scan scores >= this, its background lines are masked before the outlier
    statistics (a lens candidate's background galaxy is explained, not an outlier; 5 = where white noise stops:
    its p99 is 4.65, tests/kb/test_residual_lines.py). Measured: lenses were 9 of the 11 non-outliers among the
    KB's 40 most anomalous residuals, 4 after masking (reduced Tang et al. 2025 survey)."""

    def __post_init__(self):
        require(self.neighbours >= 1, f"residual_lines.neighbours must be >= 1, got {self.neighbours}")
        require(self.candidates >= self.neighbours, "residual_lines.candidates must be >= residual_lines.neighbours")
        require(self.ridge >= 0, f"residual_lines.ridge must be >= 0, got {self.ridge}")
        require(self.continuum_window_angstrom >= 0, "residual_lines.continuum_window_angstrom must be >= 0")
        require(self.veto_angstrom >= 0, f"residual_lines.veto_angstrom must be >= 0, got {self.veto_angstrom}")
        require(self.threshold_sigma > 0 and self.min_line_snr > 0, "residual_lines: threshold_sigma and min_line_snr must be > 0")
        require(self.min_contrast >= 0, f"residual_lines.min_contrast must be >= 0, got {self.min_contrast}")
        require(self.min_lines >= 1, f"residual_lines.min_lines must be >= 1, got {self.min_lines}")
        require(0 < self.z_tolerance < 0.05, f"residual_lines.z_tolerance must be in (0, 0.05), got {self.z_tolerance}")
        require(self.method in ("joint_scan", "blind"), f"residual_lines.method must be joint_scan or blind, got {self.method!r}")
        require(self.line_sigma_kms > 0 and self.line_snr > 0 and self.z_step > 0,
                "residual_lines: line_sigma_kms, line_snr and z_step must be > 0")
        require(0 < self.min_cover <= 1, f"residual_lines.min_cover must be in (0, 1], got {self.min_cover}")
        require(self.scatter_window_angstrom >= 0 and self.scatter_floor > 0,
                "residual_lines: need scatter_window_angstrom >= 0 and scatter_floor > 0")
        require(self.anomaly_floor >= 0, f"residual_lines.anomaly_floor must be >= 0, got {self.anomaly_floor}")
        require(0 < self.anomaly_percentile <= 100, "residual_lines.anomaly_percentile must be in (0, 100]")
        require(self.anomaly_method in ("multiscale", "percentile"),
                f"residual_lines.anomaly_method must be multiscale or percentile, got {self.anomaly_method!r}")
        require(len(self.anomaly_widths_px) >= 1 and all(int(w) == w and w >= 1 and w % 2 == 1 for w in self.anomaly_widths_px),
                f"residual_lines.anomaly_widths_px must be odd pixel counts >= 1, got {self.anomaly_widths_px}")
        require(0 < self.anomaly_min_cover <= 1, "residual_lines.anomaly_min_cover must be in (0, 1]")
        require(self.anomaly_calibration_rows >= 10, "residual_lines.anomaly_calibration_rows must be >= 10")
        require(self.anomaly_lens_mask_score > 0, "residual_lines.anomaly_lens_mask_score must be > 0")
        require(-0.01 <= self.z_min < self.z_max, f"residual_lines: need -0.01 <= z_min < z_max, got {self.z_min}, {self.z_max}")


def foreground_residual(flux: np.ndarray, ivar: np.ndarray, neighbour_flux: np.ndarray,
                        neighbour_ivar: np.ndarray | None = None, ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(residual (n, P), good (n, P)) of ``flux`` after the ivar-weighted least-squares fit of its neighbours.

    flux, ivar: (n, P); neighbour_flux: (n, M, P). Pixels where the query's ivar is 0 or a neighbour is
    uncovered (its ivar 0, when given) carry no weight and are not good.
    """
    f = np.nan_to_num(np.asarray(flux, np.float64))
    g = np.nan_to_num(np.asarray(neighbour_flux, np.float64))
    good = (np.asarray(ivar) > 0) & np.isfinite(flux)
    if neighbour_ivar is not None:
        good &= (np.asarray(neighbour_ivar) > 0).all(axis=1)
    w = np.where(good, np.asarray(ivar, np.float64), 0.0)
    gw = g * w[:, None, :]
    normal = np.einsum("nmp,nkp->nmk", gw, g)
    rhs = np.einsum("nmp,np->nm", gw, f)
    diag = np.trace(normal, axis1=1, axis2=2) / normal.shape[1]
    normal = normal + (ridge * np.maximum(diag, 1e-30))[:, None, None] * np.eye(normal.shape[1])[None]
    coef = np.linalg.solve(normal, rhs[..., None])[..., 0]
    model = np.einsum("nm,nmp->np", coef, g)
    return (f - model).astype(np.float32), good


def foreground_veto(wave_angstrom: np.ndarray, half_width_angstrom: float) -> np.ndarray:
    """(P,) bool: grid pixels within ``half_width_angstrom`` of a foreground emission line."""
    wave = np.asarray(wave_angstrom, np.float64)
    veto = np.zeros(len(wave), bool)
    for w in FOREGROUND_LINES_ANGSTROM:
        veto |= np.abs(wave - w) <= half_width_angstrom
    return veto


def background_lines(residual: np.ndarray, ivar: np.ndarray, good: np.ndarray, wave_angstrom: np.ndarray,
                     cfg: ResidualLineConfig = ResidualLineConfig(), model_flux: np.ndarray | None = None,
                     lines: bool = True) -> dict[str, np.ndarray]:
    """Background-line redshifts in residuals (steps 2-4 of the module docstring).

    Returns per spectrum: ``score`` (quality sqrt(sum S/N^2) of the accepted line group, 0 where none),
    ``n_lines``, ``z_rel`` (NaN where none) and ``anomaly`` (``residual_anomaly`` of the residual before the
    running median, with ``model_flux``, the foreground model, for the error floor; no floor without it).
    ``lines=False``: the anomaly only (score 0, no lines; the outlier search needs no line search).
    """
    from skysift.spectra.continuum import grid_step_angstrom
    from skysift.spectra.line_finding import find_lines_in_residual
    from skysift.spectra.line_redshift import LineRedshiftConfig, line_redshifts

    from skysift.spectra.continuum import median_continuum

    wave = np.asarray(wave_angstrom, np.float64)
    step = grid_step_angstrom(wave)
    ok = good & ~foreground_veto(wave, cfg.veto_angstrom)[None, :]
    resid = np.asarray(residual, np.float32)
    anomaly = residual_anomaly(resid, ivar, good, model_flux, cfg.anomaly_floor, cfg.anomaly_percentile)
    if not lines:
        n = len(resid)
        return {"score": np.zeros(n), "n_lines": np.zeros(n, np.int32), "z_rel": np.full(n, np.nan), "anomaly": anomaly}
    if cfg.continuum_window_angstrom > 0:
        base = median_continuum(resid, np.where(ok, 1.0, 0.0).astype(np.float32), wave, cfg.continuum_window_angstrom, good=ok)
        resid = resid - np.nan_to_num(base)
    if cfg.method == "joint_scan":
        out = joint_scan(wave, cfg).score(resid, np.maximum(ivar, 0.0), ok)
        return {"score": out["score"], "n_lines": out["n_lines"], "z_rel": out["z_rel"], "anomaly": anomaly}
    chi = np.where(good, resid.astype(np.float64) * np.sqrt(np.maximum(ivar, 0.0)), 0.0).astype(np.float32)
    n = chi.shape[0]
    lines = find_lines_in_residual(chi, np.ones_like(chi), ok, np.full(n, cfg.threshold_sigma), float(wave[0]), step,
                                   half_window_px=max(1, int(round(5.0 / step))),
                                   max_half_width_px=max(1, int(round(15.0 / step))), min_snr=cfg.min_line_snr,
                                   min_contrast=cfg.min_contrast,
                                   contrast_half_px=max(3, int(round(0.5 * max(cfg.continuum_window_angstrom, 100.0) / step))))
    zcfg = LineRedshiftConfig(line_names=BACKGROUND_LINES, min_lines=cfg.min_lines, z_tolerance=cfg.z_tolerance,
                              z_min=cfg.z_min, z_max=cfg.z_max)
    red = line_redshifts(lines, n, zcfg)
    return {"score": np.where(red.has_z, red.quality, 0.0), "n_lines": red.n_lines, "z_rel": red.z_cl,
            "anomaly": anomaly}


def joint_scan(wave: np.ndarray, cfg: ResidualLineConfig):
    """The ``kb.joint_line_scan.JointLineScan`` of a grid and config (built once: templates, trial z)."""
    return _joint_scan(np.asarray(wave, np.float64).tobytes(), cfg.line_sigma_kms, cfg.z_min, cfg.z_max, cfg.z_step,
                       cfg.line_snr, cfg.min_lines, cfg.min_cover, cfg.scatter_window_angstrom, cfg.scatter_floor)


@functools.lru_cache(maxsize=8)
def _joint_scan(wave_bytes: bytes, *params):
    from skysift.kb.joint_line_scan import JointLineScan

    return JointLineScan(np.frombuffer(wave_bytes, np.float64), *params)


def residual_anomaly(residual: np.ndarray, ivar: np.ndarray, good: np.ndarray, model_flux: np.ndarray | None = None,
                     floor: float = 0.05, percentile: float = 99.0) -> np.ndarray:
    """(n,) the ``percentile`` of |residual| / sigma over each spectrum's good pixels (0 where none), with
    sigma^2 = 1 / ivar + (floor x model_flux)^2 (no floor without ``model_flux``)."""
    var = 1.0 / np.where(good, np.maximum(ivar, 1e-30), 1.0)
    if model_flux is not None:
        var = var + (floor * np.asarray(model_flux, np.float64)) ** 2
    a = np.where(good, np.abs(np.asarray(residual, np.float64)) / np.sqrt(var), np.nan)
    with np.errstate(all="ignore"):
        out = np.nanpercentile(a, percentile, axis=1)
    return np.nan_to_num(out, nan=0.0)


def neighbour_rows(kb_x: np.ndarray, kb_is_target: np.ndarray, q_x: np.ndarray, m: int,
                   exclude_self: bool = False) -> np.ndarray:
    """(n_q, m) rows of ``kb_x`` of the ``m`` nearest NON-target entries of each query (exact L2, faiss).

    ``exclude_self``: the queries ARE the KB rows in order (scoring the KB itself), so each skips itself.
    """
    import faiss

    rows = np.flatnonzero(~np.asarray(kb_is_target, bool))
    index = faiss.IndexFlatL2(kb_x.shape[1])
    index.add(np.ascontiguousarray(kb_x[rows], np.float32))
    k = m + 1 if exclude_self else m
    _, ids = index.search(np.ascontiguousarray(q_x, np.float32), k)
    out = rows[np.maximum(ids, 0)]
    if exclude_self:
        me = np.arange(len(q_x))[:, None]
        keep = out != me
        # drop the query itself where it came back (first), else the farthest of the m + 1
        out = np.stack([r[k_][:m] for r, k_ in zip(out, keep)])
    return out


def covering_neighbours(candidates: np.ndarray, q_ivar: np.ndarray, kb_ivar: np.ndarray, m: int,
                        min_cover: float = 0.98) -> np.ndarray:
    """(n, m) of each row of ``candidates`` (nearest first): the m nearest that cover >= ``min_cover`` of the
    query's good pixels, topped up with the best-covering others where fewer do.

    On a rest-frame grid a neighbour at higher z lacks the red end that a lower-z query has; one such neighbour
    would take those pixels out of the residual (measured: the background Hbeta and [O III] of half the lenses
    of the synthetic survey sit there).
    """
    q_good = np.asarray(q_ivar) > 0
    out = np.empty((len(candidates), m), np.int64)
    for i, cand in enumerate(candidates):
        need = max(int(q_good[i].sum()), 1)
        cover = (np.asarray(kb_ivar)[cand][:, q_good[i]] > 0).sum(axis=1) / need
        full = cover >= min_cover
        order = np.concatenate([np.flatnonzero(full), np.flatnonzero(~full)[np.argsort(-cover[~full], kind="stable")]])
        out[i] = cand[order[:m]]
    return out


def flux_nearest(candidates: np.ndarray, q_flux: np.ndarray, q_ivar: np.ndarray, kb_flux: np.ndarray,
                 kb_ivar: np.ndarray, m: int, min_cover: float = 0.98) -> np.ndarray:
    """(n, m): per query the m candidates closest in flux (chi^2 after the best scale, over the query's good
    pixels; candidates covering < ``min_cover`` of them rank after all that do)."""
    out = np.empty((len(candidates), m), np.int64)
    for i, cand in enumerate(candidates):
        w = np.where(q_ivar[i] > 0, q_ivar[i], 0.0).astype(np.float64)
        g = kb_flux[cand].astype(np.float64)
        covered = (kb_ivar[cand] > 0) | (w == 0)[None, :]
        cover = covered.mean(axis=1)
        gw = np.where(covered, g, 0.0) * w
        scale = (gw * q_flux[i]).sum(1) / np.maximum((gw * g).sum(1), 1e-30)
        chi2 = (w * np.where(covered, q_flux[i][None, :] - scale[:, None] * g, 0.0) ** 2).sum(1) / np.maximum((w[None, :] * covered).sum(1), 1)
        key = np.where(cover >= min_cover, chi2, np.inf)
        order = np.lexsort((-cover, key))
        out[i] = cand[order[:m]]
    return out


def residual_batches(q_flux: np.ndarray, q_ivar: np.ndarray, kb_flux: np.ndarray, kb_ivar: np.ndarray,
                     candidates: np.ndarray, cfg: ResidualLineConfig = ResidualLineConfig(), batch: int = 256):
    """Yield (start, residual, good, model) per batch of queries: each query after subtracting ``cfg.neighbours``
    of its neighbour ``candidates`` (n_q, >= neighbours; KB rows, nearest first), chosen by flux
    (``flux_nearest``) or by coverage (``covering_neighbours``) as ``cfg.select_by_flux`` says."""
    for s in range(0, len(q_flux), batch):
        cand = candidates[s:s + batch, :cfg.candidates]
        if cfg.select_by_flux:
            nb = flux_nearest(cand, q_flux[s:s + batch], q_ivar[s:s + batch], kb_flux, kb_ivar, cfg.neighbours)
        else:
            nb = covering_neighbours(cand, q_ivar[s:s + batch], kb_ivar, cfg.neighbours)
        resid, good = foreground_residual(q_flux[s:s + batch], q_ivar[s:s + batch], kb_flux[nb], kb_ivar[nb], cfg.ridge)
        yield s, resid, good, np.nan_to_num(q_flux[s:s + batch]) - resid


def score_queries(q_flux: np.ndarray, q_ivar: np.ndarray, kb_flux: np.ndarray, kb_ivar: np.ndarray,
                  candidates: np.ndarray, wave_angstrom: np.ndarray, cfg: ResidualLineConfig = ResidualLineConfig(),
                  batch: int = 256, lines: bool = True) -> dict[str, np.ndarray]:
    """``background_lines`` of each query's ``residual_batches`` residual (``lines``: as there)."""
    parts = [background_lines(resid, q_ivar[s:s + len(resid)], good, wave_angstrom, cfg, model, lines)
             for s, resid, good, model in residual_batches(q_flux, q_ivar, kb_flux, kb_ivar, candidates, cfg, batch)]
    if not parts:
        return {"score": np.zeros(0), "n_lines": np.zeros(0, np.int32), "z_rel": np.zeros(0), "anomaly": np.zeros(0)}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def mask_background_lines(good: np.ndarray, wave_angstrom: np.ndarray, z_rel: np.ndarray,
                          half_width_angstrom: float = 8.0) -> np.ndarray:
    """``good`` without the pixels within ``half_width_angstrom`` of the background lines at each row's
    ``z_rel`` (NaN: none): a lens candidate's background galaxy is explained, not an outlier."""
    from skysift.spectra.line_list import rest_waves

    out = np.array(good, bool, copy=True)
    wave = np.asarray(wave_angstrom, np.float64)
    rest = np.asarray(rest_waves(BACKGROUND_LINES), np.float64)
    for i in np.flatnonzero(np.isfinite(z_rel)):
        centres = rest * (1 + z_rel[i])
        out[i] &= ~(np.abs(wave[:, None] - centres[None, :]) <= half_width_angstrom).any(axis=1)
    return out


def residual_statistics(q_flux: np.ndarray, q_ivar: np.ndarray, kb_flux: np.ndarray, kb_ivar: np.ndarray,
                        candidates: np.ndarray, wave_angstrom: np.ndarray, cfg: ResidualLineConfig = ResidualLineConfig(),
                        batch: int = 256):
    """Per query, what the outlier model reads of its residual (``residual_batches``): (the window statistics
    of kb.multiscale_anomaly, all rows; (n, 3) the lens scan's score, the percentile statistic and the median
    continuum S/N). Where the lens scan scores >= ``cfg.anomaly_lens_mask_score`` its background lines are
    masked before the windows (``mask_background_lines``)."""
    from skysift.kb import multiscale_anomaly as ma

    widths = tuple(int(w) for w in cfg.anomaly_widths_px)
    stats, extras = [], []
    for s, resid, good, model in residual_batches(q_flux, q_ivar, kb_flux, kb_ivar, candidates, cfg, batch):
        iv = q_ivar[s:s + len(resid)]
        bl = background_lines(resid, iv, good, wave_angstrom, cfg, model, lines=True)
        z_rel = np.where(bl["score"] >= cfg.anomaly_lens_mask_score, bl["z_rel"], np.nan)
        stats.append(ma.window_stats(resid, iv, mask_background_lines(good, wave_angstrom, z_rel), model, widths,
                                     cfg.anomaly_min_cover))
        with np.errstate(invalid="ignore"):
            snr = np.nanmedian(np.where(good, model * np.sqrt(np.maximum(iv, 0.0)), np.nan), axis=1)
        extras.append(np.column_stack([bl["score"], bl["anomaly"], np.nan_to_num(snr)]))
    if not stats:
        empty = np.zeros((0, len(widths), len(wave_angstrom)), np.float32)
        return ma.WindowStats(empty, empty, empty, empty.astype(bool)), np.zeros((0, 3))
    return ma.concatenate(stats), np.concatenate(extras)


def outlier_features(stats, extras: np.ndarray, calibration) -> np.ndarray:
    """(n, W + 3) the outlier model's inputs: per width log(1 + T_w) (kb.multiscale_anomaly.max_abs_z with the
    normals' ``calibration``), the lens score, the percentile statistic, log(1 + continuum S/N)."""
    from skysift.kb import multiscale_anomaly as ma

    t = ma.max_abs_z(stats, calibration)
    return np.column_stack([np.log1p(t), extras[:, 0], extras[:, 1], np.log1p(np.maximum(extras[:, 2], 0.0))])
