"""What every rule script does around its one library call: log to the rule's log file, use
the rule's threads, lease the GPU(s) it asked for (``resources: gpu=N``), and record a failure
before Snakemake reports it: with its traceback, or for bad input (``FixableError``) its message
alone."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from mnistflow.errors import FixableError
from mnistflow.gpu import gpus_for_job


def set_threads(n: int) -> None:
    """Limit BLAS/OpenMP pools (and torch, if loaded) to the ``threads:`` Snakemake granted."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


@contextlib.contextmanager
def rule_context(snakemake) -> Iterator[logging.Logger]:
    log = logging.getLogger(f"mnistflow.{snakemake.rule}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = logging.FileHandler(snakemake.log[0], mode="w") if snakemake.log else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)  # first: scripts hand its stream to tqdm
    # Snakemake deletes a job's log before running it again, so a job with a resume file
    # (``params.resume``) also writes its log beside that file, where it survives; a job that
    # resumes starts its log with the earlier attempts' lines.
    resume = getattr(getattr(snakemake, "params", None), "resume", None)
    history = Path(f"{resume}.log") if resume else None
    resuming = bool(resume) and os.path.exists(resume)
    if resuming and history.is_file() and snakemake.log:
        handler.stream.write(history.read_text(errors="replace"))
    handlers = [handler]
    if history is not None and snakemake.log:
        history.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(history, mode="a" if resuming else "w"))
        handlers[-1].setFormatter(handler.formatter)
        log.addHandler(handlers[-1])
    set_threads(snakemake.threads)
    started = time.perf_counter()
    if resuming:
        log.info("--- this job starts again with %s there: the lines above are its earlier attempts", resume)
    log.info("rule %s, %d thread(s), wildcards %s, on %s%s", snakemake.rule, snakemake.threads,
             dict(snakemake.wildcards), socket.gethostname(),
             f" as SLURM job {os.environ['SLURM_JOB_ID']}" if "SLURM_JOB_ID" in os.environ else "")
    try:
        with gpus_for_job(int(snakemake.resources.get("gpu", 0)), log.info):
            yield log
    except FixableError as exc:  # the message says it all: once, in the log Snakemake prints
        log.error("failed after %.1f s: %s", time.perf_counter() - started, exc)
        raise SystemExit(1) from None
    except BaseException:
        log.exception("failed after %.1f s", time.perf_counter() - started)
        raise
    else:
        log.info("done in %.1f s", time.perf_counter() - started)
        if history is not None:
            history.unlink(missing_ok=True)  # finished: nothing left to resume
    finally:
        for each in handlers:
            log.removeHandler(each)
            each.close()
