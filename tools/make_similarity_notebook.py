"""Write notebooks/08_similarity.ipynb from cells kept here as plain text (reviewable diffs)."""
from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1]


def similarity() -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
    nb.cells = [
        md("# 08 — Galaxy image similarity search (Friberg, GalaxIDNet)\n\n"
           "Galaxy10-like synthetic stamps (64 px, g r z, with field stars and neighbours; their morphology class "
           "is used only to judge the results) train the tiny GalaxIDNet ViT with self-supervised contrastive "
           "pairs (`skysift train-image-encoder`). `embed-images` stores each stamp's patch features and pooled "
           "vector, `build-image-index` puts the vectors in a sharded faiss index, and `search-images` answers "
           "queries: faiss candidates re-ranked by the paper's combined score "
           "(w1 cos + w2 / (1 + L2) + w3 / (1 + L3), per patch), checked against the paper's exhaustive scan. "
           "We look at the top-k contact sheets of a few queries, of a turned and a mirrored copy, and of a query "
           "by sky position, then at the quality report (precision@k against raw-pixel PCA and the untrained "
           "network, invariance). Every step calls `skysift`.\n\n"
           "Environment: `SKYSIFT_NB_WORK` (work folder), `SKYSIFT_NB_STAMPS` (stamps, default 256), "
           "`SKYSIFT_NB_EPOCHS` (training epochs, default 30), `SKYSIFT_NB_SPARK=0` (the jobs' in-process "
           "twins instead of local Spark)."),
        code("import json, os, tempfile\nfrom pathlib import Path\n\nimport numpy as np\nimport pyarrow as pa\n"
             "import pyarrow.parquet as pq\nimport torch\nimport matplotlib\nmatplotlib.use('Agg')\n"
             "import matplotlib.pyplot as plt\n%matplotlib inline\nfrom IPython.display import Image, Markdown, display\n\n"
             "from skysift.cli import run_job\nfrom skysift.paths import conf_dir\n"
             "from skysift.images.cutout_table import stamps_with_positions\n"
             "from skysift.images.network_input import network_input\nfrom skysift.images.symmetry import apply_symmetry\n"
             "from skysift.runtime.output import read_table\nfrom skysift.runtime.rejects import read_rejects\n"
             "from skysift.synth.imaging.stamp_tables import write_stamps\n\n"
             "work = Path(os.environ.get('SKYSIFT_NB_WORK') or tempfile.mkdtemp(prefix='skysift-nb08-'))\n"
             "work.mkdir(parents=True, exist_ok=True)\n"
             "n_stamps = int(os.environ.get('SKYSIFT_NB_STAMPS', '256'))\n"
             "epochs = int(os.environ.get('SKYSIFT_NB_EPOCHS', '30'))\n"
             "spark = None\nif os.environ.get('SKYSIFT_NB_SPARK', '1') != '0':\n"
             "    from skysift.runtime.spark import session\n    spark = session('local', app_name='nb08-similarity')\n"
             "torch.set_num_threads(1)\nprint('work folder:', work, '| stamps:', n_stamps, '| spark:', spark is not None)"),
        md("## Stamps with known morphology\n\nDrawn at 256 px (0.262\"/px) and binned 4 × 4 to the tiny model's "
           "64 px. The stamps get sky positions on a line (0.01° apart) so that a query by position works."),
        code("stamps, truth = write_stamps(work / 'stamps', 11, n_stamps, rows_per_file=64)\n"
             "table = read_table(stamps)\nlabels = read_table(truth).to_pandas().set_index('stamp_id')['label']\n"
             "n = table.num_rows\nimages_dir = work / 'images'\nimages_dir.mkdir(exist_ok=True)\n"
             "pq.write_table(stamps_with_positions(table, 30.0 + 0.01 * np.arange(n), np.full(n, -20.0), 'stamp-'),\n"
             "               images_dir / 'part-0.parquet', row_group_size=64)\n"
             "_, rgb, _ = network_input(table, 64)\n"
             "classes = sorted(labels.unique())\n"
             "fig, axes = plt.subplots(len(classes), 6, figsize=(6, len(classes)))\n"
             "for r, c in enumerate(classes):\n"
             "    ids = labels[labels == c].index[:6]\n"
             "    for k, ax in enumerate(axes[r]):\n"
             "        ax.axis('off')\n"
             "        if k < len(ids):\n"
             "            ax.imshow(rgb[int(ids[k])].transpose(1, 2, 0))\n"
             "    axes[r][0].set_title(f'class {c}', fontsize=7, loc='left')\n"
             "plt.tight_layout(); plt.show()\nprint('stamps per class:', labels.value_counts().sort_index().to_dict())"),
        md("## Train the encoder (self-supervised: labels are never read)\n\nEach image gets a positive pair "
           "(itself under a random flip, rotation, perspective, crop or noise) or a negative one (another image "
           "under the same transforms plus erasing and blur); the loss pushes the combined similarity to 1 or 0."),
        code("train = run_job('train-image-encoder', ['--config', str(conf_dir() / 'train_image_encoder_tiny.yaml'),\n"
             "    '--input', str(stamps), '--output', str(work / 'train'), '--set', f'epochs={epochs}',\n"
             "    '--set', 'mlflow.enabled=false'], spark=spark)\n"
             "summary = json.loads((work / 'train' / 'train_summary.json').read_text())\n"
             "h = summary['history']\nfig, ax = plt.subplots(1, 2, figsize=(9, 3))\n"
             "ax[0].plot([r['epoch'] for r in h], [r['train_loss'] for r in h], label='train')\n"
             "ax[0].plot([r['epoch'] for r in h], [r['val_loss'] for r in h], label='validation')\n"
             "ax[0].axhline(0.076, ls=':', c='k', label='paper minimum'); ax[0].set_xlabel('epoch'); ax[0].legend()\n"
             "ax[1].plot([r['epoch'] for r in h], [r['loose_accuracy'] for r in h])\n"
             "ax[1].axhline(1 / summary['loose_accuracy_batch_size'], ls=':', c='grey', label='chance')\n"
             "ax[1].axhline(0.93, ls=':', c='k', label='paper'); ax[1].set_title('loose accuracy'); ax[1].legend()\n"
             "plt.tight_layout(); plt.show()\n"
             "print(f\"best validation loss {summary['best_val_loss']:.3f} (paper 0.076); loose accuracy "
             "{summary['max_loose_accuracy']:.3f} at batch {summary['loose_accuracy_batch_size']} (paper ~0.93)\")"),
        md("## Embed, index"),
        code("model = str(work / 'train' / 'best.pt')\n"
             "emb = run_job('embed-images', ['--input', str(images_dir), '--output', str(work / 'vectors'),\n"
             "              '--set', f'model_uri={model}'], spark=spark)\n"
             "idx = run_job('build-image-index', ['--input', str(work / 'vectors'), '--output', str(work / 'index')],\n"
             "              spark=spark)\n"
             "print(f\"embedded {emb['written']} of {emb['read']}; index of {idx['written']} images\")"),
        md("## Queries: three stamps, a quarter turn and a mirror\n\n`mode=both` runs faiss + re-ranking and the "
           "exhaustive scan and reports the faiss path's recall@10 against it; `query_symmetries=dihedral` scores "
           "each image by its best match over the 8 symmetries of the square (a skysift extension)."),
        code("picks = [int(labels[labels == c].index[0]) for c in classes[:3]]\n"
             "rows = table.take(pa.array(picks))\n"
             "px = np.stack(rows.column('pixels').to_numpy(zero_copy_only=False)).reshape(len(picks), 3, 64, 64)\n"
             "extra = np.stack([apply_symmetry(px[0], 1, False), apply_symmetry(px[1], 0, True)]).reshape(2, -1)\n"
             "turned = rows.slice(0, 2).set_column(rows.schema.get_field_index('pixels'), 'pixels',\n"
             "                                     pa.array(list(extra), type=rows.schema.field('pixels').type))\n"
             "qnames = [f'stamp-{i}' for i in picks] + [f'stamp-{picks[0]} turned 90', f'stamp-{picks[1]} mirrored']\n"
             "queries = pa.concat_tables([rows, turned]).append_column('image_id', pa.array(qnames))\n"
             "(work / 'queries').mkdir(exist_ok=True)\npq.write_table(queries, work / 'queries' / 'part-0.parquet')\n"
             "found = run_job('search-images', ['--index', str(work / 'index'), '--query', str(work / 'queries'),\n"
             "    '--output', str(work / 'search'), '--set', 'mode=both', '--set', 'query_symmetries=dihedral',\n"
             "    '--set', f'model_uri={model}'], spark=spark)\n"
             "matches = read_table(work / 'search').to_pandas()\n"
             "top1 = matches[matches['rank'] == 1].set_index('query_id')['image_id']\n"
             "print(f\"recall@10 faiss vs exhaustive: {found['recall_at_10_faiss_vs_exhaustive']}\")\n"
             "print(f\"top-1 of the turned query: {top1[qnames[3]]} (original stamp-{picks[0]}); \"\n"
             "      f\"of the mirrored query: {top1[qnames[4]]} (original stamp-{picks[1]})\")\n"
             "matches.head(12)"),
        code("for png in sorted((work / 'search' / 'sheets').glob('query-*.png')):\n    display(Image(filename=str(png)))"),
        md("## Query by sky position (an extension: Friberg names it future work)\n\nThe nearest cutout of the "
           "index's images table is found, embedded and searched. A position off every cutout is refused."),
        code("ra, dec = 30.0 + 0.01 * picks[2], -20.0\n"
             "pos = run_job('search-images', ['--index', str(work / 'index'), '--ra', str(ra), '--dec', str(dec),\n"
             "    '--output', str(work / 'by_position'), '--set', 'k=6', '--set', f'model_uri={model}'], spark=spark)\n"
             "print('position query ->', pos['position'], 'top-1', pos['top1'])\n"
             "display(Image(filename=str(work / 'by_position' / 'sheets' / 'query-0000.png')))\n"
             "from skysift.runtime.errors import SkysiftError\ntry:\n"
             "    run_job('search-images', ['--index', str(work / 'index'), '--ra', '120.0', '--dec', '5.0',\n"
             "            '--output', str(work / 'far'), '--set', f'model_uri={model}'], spark=spark)\n"
             "except SkysiftError as e:\n    print('refused:', e)"),
        md("## Bad input: wrong bands or size, non-finite pixels go to `_rejects`"),
        code("bad = np.stack([px[0], px[1], px[2]]).astype(np.float32)\nbad[1, 0, 5, 5] = np.nan\n"
             "np.save(work / 'bad.npy', bad)\nnp.save(work / 'two_bands.npy', px[0][:2])\n"
             "for f in ('bad.npy', 'two_bands.npy'):\n"
             "    s = run_job('search-images', ['--index', str(work / 'index'), '--query', str(work / f),\n"
             "                '--output', str(work / ('rej-' + f)), '--set', 'contact_sheets=0',\n"
             "                '--set', f'model_uri={model}'], spark=spark)\n"
             "    reasons = read_rejects(str(work / ('rej-' + f))).column('reason').to_pylist()\n"
             "    print(f, {k: s[k] for k in ('read', 'written', 'rejected')}, reasons)"),
        md("## Quality: precision@k, invariance, the paper's metrics"),
        code("from skysift.models.image_vit import GalaxyVit, ImageVitConfig\n"
             "from skysift.report.image_quality import quality_report, report_markdown\n"
             "from skysift.stages.train_image_encoder.tasks import load_images\n"
             "ck = torch.load(work / 'train' / 'best.pt', weights_only=False)\n"
             "trained = GalaxyVit(ImageVitConfig(**ck['model_config'])); trained.load_state_dict(ck['model_state'])\n"
             "torch.manual_seed(0); untrained = GalaxyVit(ImageVitConfig(**ck['model_config']))\n"
             "ids, imgs, _ = load_images(str(stamps), 64, 'grz', 16)\n"
             "report = quality_report(trained, untrained, imgs, labels.loc[ids.astype(int)].to_numpy(), k=10,\n"
             "                        query_step=4, train_summary=summary)\n"
             "display(Markdown(report_markdown(report)))\n"
             "print('precision@10 trained / untrained / pca:', report['trained']['precision_at_10'],\n"
             "      report['untrained']['precision_at_10'], report['pca']['precision_at_10'])"),
        code("if spark is not None:\n    spark.stop()\nprint(json.dumps({'work': str(work), 'images': emb['written']}))"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


if __name__ == "__main__":
    nbf.write(similarity(), ROOT / "notebooks" / "08_similarity.ipynb")
