"""Write notebooks/01_quickstart.ipynb from cells kept here as plain text (reviewable diffs)."""
from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1]


def quickstart() -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
    nb.cells = [
        md("# skysift quickstart: synthetic survey -> ingest -> spectra\n\n"
           "This notebook runs two skysift jobs in local Spark exactly as `skysift synth-survey` and "
           "`skysift ingest-spectra` do on the command line, then plots a few resampled spectra of each "
           "class. Everything it calls lives in `lib/skysift`; nothing is re-implemented here."),
        code("# Parameters (the test suite runs this notebook with these small values)\n"
             "N_SPECTRA = 160\nSEED = 42\nOUT = None  # None = a temporary folder"),
        code("import json, tempfile\nfrom pathlib import Path\n\n"
             "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nimport numpy as np\n"
             "import pyarrow.dataset as pads\n\n"
             "from skysift.cli import run_job\nfrom skysift.runtime.rejects import read_rejects\n"
             "from skysift.paths import shared_data_dir\nfrom skysift.runtime.spark import session\n\n"
             "out = Path(OUT or tempfile.mkdtemp(prefix='skysift-quickstart-'))\n"
             "spark = session('local', app_name='skysift-quickstart')\nout"),
        md("## 1. A synthetic survey with known truth\n\nReal-format FITS files (SDSS `spec-PLATE-MJD-FIBER`, "
           "BOSS and LAMOST layouts) and a truth table with class, redshift and line fluxes."),
        code("synth = run_job('synth-survey', ['--output', str(out / 'survey'), '--set', f'n_spectra={N_SPECTRA}',\n"
             "                                 '--set', f'seed={SEED}', '--set', 'format=fits'], spark=spark)\n"
             "truth = pads.dataset(str(out / 'survey' / 'truth')).to_table().to_pandas()\n"
             "truth.target_class.value_counts()"),
        md("## 2. Ingest: read on the executors, resample to 3850-9000 A (3688 points), normalise\n\n"
           "The real SDSS/LAMOST sample in `../shared/data` is ingested alongside when it is present."),
        code("inputs = [str(out / 'survey' / 'spectra')]\nreal = shared_data_dir()\n"
             "if real is not None:\n    inputs += [str(real / 'sdss-spectra'), str(real / 'lamost-spectra')]\n"
             "summary = run_job('ingest-spectra', ['--input', ','.join(inputs), '--output', str(out / 'spectra')],\n"
             "                  spark=spark)\n"
             "assert summary['read'] == summary['written'] + summary['rejected']\n"
             "spectra = pads.dataset(str(out / 'spectra'), partitioning='hive').to_table().to_pandas()\n"
             "len(spectra), summary['rejected']"),
        code("read_rejects(out / 'spectra').to_pandas()[['source_file', 'stage', 'reason']].head()"),
        md("## 3. A few spectra per class\n\nSynthetic rows are joined to their truth by `file_spec_id`; real "
           "rows keep the survey pipeline's class."),
        code("lookup = truth.set_index('file_spec_id').target_class\n"
             "spectra['label'] = [lookup.get(s, f'real {c}') for s, c in zip(spectra.spec_id, spectra['class'])]\n"
             "wave = np.linspace(3850, 9000, 3688)\nlabels = sorted(spectra.label.unique())\n"
             "fig, axes = plt.subplots(len(labels), 1, figsize=(10, 1.8 * len(labels)), sharex=True)\n"
             "for ax, label in zip(np.atleast_1d(axes), labels):\n"
             "    rows = spectra[spectra.label == label].head(3)\n"
             "    for offset, row in enumerate(rows.itertuples()):\n"
             "        flux = np.asarray(row.flux)\n"
             "        ax.plot(wave, flux + 1.5 * offset, lw=0.5)\n"
             "    ax.set_ylabel(label, rotation=0, ha='right', fontsize=8)\n"
             "    stacked = np.concatenate([np.asarray(f) + 1.5 * i for i, f in enumerate(rows.flux)])\n"
             "    ax.set_ylim(*np.percentile(stacked, [0.5, 99.7]))  # strong lines would hide the continuum\n"
             "np.atleast_1d(axes)[-1].set_xlabel('observed wavelength [A]')\n"
             "fig.tight_layout()\nfig.savefig(out / 'spectra_by_class.png', dpi=80)\nsorted(labels)"),
        code("spark.stop()\nprint(json.dumps({'output': str(out), 'spectra': len(spectra)}))"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


if __name__ == "__main__":
    nbf.write(quickstart(), ROOT / "notebooks" / "01_quickstart.ipynb")
