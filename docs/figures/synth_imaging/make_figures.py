"""Figures of the synthetic imaging survey (docs/figures/synth_imaging): run from the repository root with PYTHONPATH=lib."""
import os, dataclasses
import numpy as np, pandas as pd
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
from astropy.visualization import make_lupton_rgb
from skysift.synth.imaging.config import ImagingSurveyConfig, StampConfig, PopulationConfig, GALAXY10_CLASSES
from skysift.synth.imaging import frames, catalogs, objects, stamps, galaxies as G
out = "docs/figures/synth_imaging"; os.makedirs(out, exist_ok=True)
cfg = ImagingSurveyConfig(n_fields=3)
fi = frames.render_field(1, cfg, 1)
im = fi.images
rgb = make_lupton_rgb(im[3], im[2], im[1], Q=10, stretch=0.4, minimum=-0.05)
fig, ax = plt.subplots(figsize=(12, 9))
ax.imshow(rgb, origin="lower")
t = fi.objects[fi.objects.in_frame]
cats = catalogs.field_catalogs(1, cfg, fi)
det = cats["truth"].to_pandas().set_index("object_id").loc[t.object_id, "detected"].to_numpy()
for cls, c in (("STAR", "cyan"), ("QSO", "lime"), ("GALAXY", "orange")):
    s = (t["class"] == cls).to_numpy() & (t.mag_r < 21).to_numpy()
    ax.scatter(t.x_r[s], t.y_r[s], s=40, facecolors="none", edgecolors=c, lw=0.6, label=f"{cls} r<21")
miss = ~det
ax.scatter(t.x_r[miss], t.y_r[miss], s=6, c="red", marker="x", lw=0.4, label="not in photoObj")
ax.legend(loc="upper right", fontsize=8); ax.set_title(f"synthetic frame run {fi.fid.run} camcol {fi.fid.camcol} field {fi.fid.field} (i,r,g; bands unregistered)")
plt.tight_layout(); plt.savefig(f"{out}/field_rgb.png", dpi=45); plt.close()

b = stamps.stamp_batch(2, StampConfig(), 0, 160)
rgbs = stamps.to_uint8_rgb(b.images)
fig, ax = plt.subplots(10, 6, figsize=(9, 15))
for lab in range(10):
    idx = np.flatnonzero(b.truth.label.to_numpy() == lab)[:6]
    for j in range(6):
        a = ax[lab, j]; a.axis("off")
        if j < len(idx):
            a.imshow(rgbs[idx[j]], origin="lower")
    ax[lab, 0].set_title(GALAXY10_CLASSES[lab], fontsize=8, loc="left")
plt.tight_layout(); plt.savefig(f"{out}/stamps_per_class.png", dpi=50); plt.close()

pop = dataclasses.replace(PopulationConfig(), qso_density_per_deg2=3000, spec_density_per_deg2=5000)
c2 = ImagingSurveyConfig(population=pop)
df = pd.concat([objects.cell_objects(3, c2, 1, k) for k in range(3)])
fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
s = df[(df["class"] == "STAR") & (df.mag_r < 22)]; q = df[(df["class"] == "QSO") & (df.mag_r < 22)]
ax[0].scatter(s.mag_g - s.mag_r, s.mag_u - s.mag_g, s=2, c="b", label="stars"); ax[0].scatter(q.mag_g - q.mag_r, q.mag_u - q.mag_g, s=3, c="g", label="QSOs")
ax[0].set_xlabel("g - r"); ax[0].set_ylabel("u - g"); ax[0].set_xlim(-0.5, 1.8); ax[0].set_ylim(-0.5, 3.2); ax[0].legend(); ax[0].set_title("true colours, r < 22")
ax[1].hist(s.mag_r, bins=30, range=(16, 22), histtype="step", density=True, label="stars"); ax[1].hist(q.mag_r, bins=30, range=(16, 22), histtype="step", density=True, label="QSOs"); ax[1].set_xlabel("r"); ax[1].legend(); ax[1].set_title("r alone overlaps")
g = df[df.is_spec & (df["class"] == "GALAXY")]
sc = ax[2].scatter(g.mag_g - g.mag_r, g.log_sfr, c=np.log10(g.re_arcsec * G.kpc_per_arcsec(g.z.to_numpy())), s=6, cmap="viridis")
plt.colorbar(sc, ax=ax[2], label="log R_e / kpc"); ax[2].set_xlabel("g - r (observed)"); ax[2].set_ylabel("log SFR (Msun/yr)"); ax[2].set_title("spectroscopic galaxies: SFR truth")
plt.tight_layout(); plt.savefig(f"{out}/colours_sfr.png", dpi=60); plt.close()

tr = cats["truth"].to_pandas(); tr = tr[tr.in_frame]
bins = np.arange(19, 23.75, 0.25); mid = 0.5 * (bins[1:] + bins[:-1])
frac = [tr.detected[(tr.mag_r >= a) & (tr.mag_r < b2)].mean() for a, b2 in zip(bins[:-1], bins[1:])]
p = catalogs.detection_probability(mid, cfg.catalog)
plt.figure(figsize=(5, 3.5)); plt.plot(mid, frac, "o-", label="field 1 photoObj"); plt.plot(mid, p, "k--", label="configured"); plt.axvline(22.2, c="gray", lw=0.5)
plt.xlabel("true r"); plt.ylabel("catalogued fraction"); plt.legend(); plt.tight_layout(); plt.savefig(f"{out}/completeness.png", dpi=60); plt.close()
print(sorted(os.listdir(out)))
