"""mnistflow: the library behind the workflow (data, statistics, plots).

Rule scripts and tests import the same code from here; the scripts themselves only read
``snakemake.input/output/params/threads`` and call into this package.
"""

__version__ = "0.1.0"
