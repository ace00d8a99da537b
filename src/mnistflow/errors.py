"""The one error kind a rule reports without a traceback."""


class FixableError(Exception):
    """Bad input whose message names the file, key or value at fault and what to run to fix it
    (``--forcerun acquire_raw``, ``--force <file>``): a rule logs the message alone, once. A
    traceback would only repeat it (Snakemake prints the job's log after the script's stderr)."""


class ConfigValueError(FixableError, ValueError):
    """A config value the data cannot honour (found only once a job reads the data); the message
    names the key."""
