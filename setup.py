"""skysift: find target objects in survey-scale astronomy data with Apache Spark."""
from setuptools import find_packages, setup

# Versions verified to install and run offline together (../shared/STACK.md).
CORE = [
    "pyspark==4.3.0",
    "pyarrow==25.0.1",
    "pandas==3.1.1",
    "numpy==2.4.6",
    "torch==2.14.1",
    "mlflow==3.17.2",
    "faiss-cpu==1.15.1",
    "astropy==8.0.2",
    "cdshealpix==0.9.0",
    # Compiled batch kernels (resampling); also pulled in by lsdb.
    "numba==0.68.1",
    "PyYAML==6.0.4",
    "psutil==7.2.2",
    "tqdm==4.70.1",
    "matplotlib==3.11.2",
    "scikit-learn==1.9.1",
    "scipy==1.17.1",
    # Imaging background maps (images/background.py) and source segmentation.
    "photutils==3.0.0",
]
DEV = [
    "pytest==9.2.0",
    # The suite on 2 processes (one test file per worker at a time): serially it left one of CI's 2 cores idle
    # (user+sys 41 of 47 min wall, BENCHMARKS.md session 12).
    "pytest-xdist==3.8.0",
    "nbclient==0.11.0",
    "nbformat==5.11.1",
    "ipykernel==7.4.0",
    # Independent readers used by tests to check our HATS output.
    "hats==0.11.1",
    "lsdb==0.11.1",
    "hats-import==0.11.1",
    # Third FITS back end, compared against ours and astropy in tests/test_readers*.py.
    "fitsio==1.4.2",
    # A local S3-compatible server (moto's server mode on 127.0.0.1) and its client, for tests/runtime.
    "moto[server]==5.2.5",
    # Independent references for the imaging tests: WCS reprojection and SExtractor's extraction.
    "reproject==0.21.0",
    "sep==1.4.1",
    # The emission-line baseline users know (benchmark lines) and the fuzz suite of the readers.
    "specutils==2.4.0",
    "hypothesis==6.170.17",
    "boto3==1.44.8",
]
# ultralytics is AGPL-3.0: kept optional, imported lazily by the detection pipeline only.
DETECT = ["ultralytics==8.4.190", "torchvision==0.29.1"]

setup(
    name="skysift",
    version="0.1.0",
    description=__doc__,
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    python_requires=">=3.11,<3.12",
    install_requires=CORE,
    extras_require={"dev": DEV, "detect": DETECT},
    entry_points={"console_scripts": ["skysift=skysift.cli:main"]},
)
