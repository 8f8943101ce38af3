"""skysift.synth.imaging: the synthetic imaging survey, linked to the spectral survey by ``object_id``.

One module per job (pure numpy / astropy, seeded, no Spark):

* ``bands``       SDSS ugriz constants, AB / asinh magnitudes, approximate filter curves, synthetic photometry
* ``config``      typed frozen configs: survey geometry, depth, PSF, populations, catalogs, stamps
* ``geometry``    runs, camcols, fields, object cells and each band's TAN WCS
* ``sed``         stellar locus, QSO colours from a power law + broad lines, galaxy colours from old + young light
* ``galaxies``    galaxy physics (mass, sSFR, SFR, size, spectral class) and the ten morphology classes
* ``objects``     the one object list per survey: stars, QSOs, galaxies, spectroscopic targets, per sky cell
* ``psf``         Moffat / Gaussian PSFs and their transfer functions on a stamp grid
* ``render``      stamps: analytic profiles on an oversampled grid, FFT convolution, sub-pixel shifts
* ``frames``      one SDSS-like field (ugriz images, sky, noise, saturation, cosmic rays) from (seed, field index)
* ``fits_frames`` frame-BAND-RUN-CAMCOL-FIELD.fits[.bz2] in the SDSS corrected-frame layout
* ``catalogs``    photoObj-like, SpecPhoto-like, truth and MPA-JHU-like tables (pyarrow)
* (schemas of those tables, with column docs: ``skysift.schema.imaging_survey``)
* ``spectra_link`` the spectral model's per-object parameters for the spectroscopic subset; Kennicutt SFR
* ``stamps``      Galaxy10-DECaLS-like 3-band 256 x 256 stamps in seeded batches
* ``survey``      job entry points: one field's files + catalogs (``make_field``), the survey-wide tables
"""
