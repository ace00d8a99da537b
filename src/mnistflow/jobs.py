"""What every rule script does around its one library call: log to the rule's log file, use
the rule's threads, lease the GPU(s) it asked for (``resources: gpu=N``), and record a failure
before Snakemake reports it: with its traceback, or for bad input (``FixableError``) its message
alone."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from mnistflow.errors import FixableError
from mnistflow.gpu import gpus_for_job, try_lock


def set_threads(n: int) -> None:
    """Limit BLAS/OpenMP pools (and torch, if loaded) to the ``threads:`` Snakemake granted."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


class ResumeLock:
    """An exclusive lock on ``<resume file>.lock`` for a job's life. Snakemake's own lock keeps a
    second workflow off a running one's outputs, but ``snakemake --unlock`` lifts it: a second
    run of the job would then train from the first's resume file and overwrite the log kept
    beside it (``<resume file>.log``). The kernel drops the lock when the process ends, however it
    ends; the file goes when the job ends. On a filesystem without flock (some NFS, FUSE or Lustre
    mounts) the job runs unguarded, saying so (``self.handle`` None)."""

    def __init__(self, resume: str | os.PathLike,
                 log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)):
        self.path = Path(f"{resume}.lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                self.handle = try_lock(self.path)
            except OSError as exc:
                if exc.errno not in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                log(f"{self.path}: this filesystem takes no locks ({exc.strerror}); the job runs without one")
                self.handle = None
                return
            if self.handle is None:
                try:
                    holder = self.path.read_text().strip() or "unknown"
                except FileNotFoundError:  # its holder ended and removed it meanwhile: try again
                    continue
                raise FixableError(f"{resume}: another job is using this resume file (process {holder} holds "
                                   f"{self.path}); a second would train the same run from it and overwrite its "
                                   f"log {resume}.log. Let that job finish or stop it, then run again "
                                   f"(snakemake --unlock does not stop a running workflow)")
            try:
                if os.path.samestat(os.fstat(self.handle.fileno()), os.stat(self.path)):
                    return
            except FileNotFoundError:
                pass
            self.handle.close()  # its holder ended and removed it as this one opened it: lock the new file

    def release(self) -> None:
        if self.handle is None:
            return
        self.path.unlink(missing_ok=True)  # while still held, so no other job holds the name meanwhile
        self.handle.close()


@contextlib.contextmanager
def rule_context(snakemake) -> Iterator[logging.Logger]:
    resume = getattr(getattr(snakemake, "params", None), "resume", None)
    try:
        lock = ResumeLock(resume) if resume else None  # before any log is touched: they may be the holder's
    except FixableError as exc:
        print(exc, file=sys.stderr)  # Snakemake prints a failed job's stderr
        raise SystemExit(1) from None
    log = logging.getLogger(f"mnistflow.{snakemake.rule}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = logging.FileHandler(snakemake.log[0], mode="w") if snakemake.log else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)  # first: scripts hand its stream to tqdm
    # Snakemake deletes a job's log before running it again, so a job with a resume file
    # (``params.resume``) also writes its log beside that file, where it survives; a job that
    # resumes starts its log with the earlier attempts' lines.
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
        if lock is not None:
            lock.release()
