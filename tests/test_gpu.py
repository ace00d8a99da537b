"""GPU leases with fake device counts: the lease logic needs no GPU."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import types

import pytest

from mnistflow import gpu
from mnistflow.jobs import rule_context


@pytest.fixture
def no_gpu_env(monkeypatch):
    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", gpu.COUNT_ENV, gpu.SHARING_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_concurrent_jobs_get_different_devices(tmp_path):
    first = gpu.acquire(["0", "1"], lock_dir=tmp_path)
    second = gpu.acquire(["0", "1"], lock_dir=tmp_path)
    assert first.devices == ["0"] and second.devices == ["1"]
    first.release()
    third = gpu.acquire(["0", "1"], lock_dir=tmp_path)
    assert third.devices == ["0"]
    assert (tmp_path / "gpu-0.lock").read_text() == f"{os.getpid()}\n"


def test_a_job_waits_while_every_device_is_leased(tmp_path):
    held = [gpu.acquire(["0", "1"], lock_dir=tmp_path), gpu.acquire(["0", "1"], lock_dir=tmp_path)]
    waits, got = [], []
    waiter = threading.Thread(target=lambda: got.append(
        gpu.acquire(["0", "1"], lock_dir=tmp_path, poll_seconds=0.05, on_wait=waits.append)))
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive() and got == []
    assert waits == [f"all of GPU(s) 0, 1 are leased (locks in {tmp_path}); waiting for one"]
    held[1].release()
    waiter.join(timeout=30)
    assert [lease.devices for lease in got] == [["1"]]


def test_jobs_sharing_gpus_spread_over_the_devices_first_then_wait_for_a_free_lease(tmp_path):
    leases = [gpu.acquire(["0", "1"], lock_dir=tmp_path, slots=2) for _ in range(4)]
    assert [lease.devices for lease in leases] == [["0"], ["1"], ["0"], ["1"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu-0.1.lock", "gpu-0.lock", "gpu-1.1.lock", "gpu-1.lock"]
    waits, got = [], []
    waiter = threading.Thread(target=lambda: got.append(
        gpu.acquire(["0", "1"], lock_dir=tmp_path, poll_seconds=0.05, on_wait=waits.append, slots=2)))
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive() and got == []
    assert waits == [f"all of GPU(s) 0, 1 are leased, 2 jobs each (locks in {tmp_path}); waiting for one"]
    leases[2].release()  # device 0's second lease
    waiter.join(timeout=30)
    assert [lease.devices for lease in got] == [["0"]]


def test_a_job_sharing_gpus_takes_the_least_shared_device_not_the_first_free_lease(tmp_path):
    first, second, third = (gpu.acquire(["0", "1"], lock_dir=tmp_path, slots=2) for _ in range(3))
    assert (first.devices, second.devices, third.devices) == (["0"], ["1"], ["0"])
    first.release()
    second.release()
    # device 0 still runs the third job; device 1 runs none
    assert gpu.acquire(["0", "1"], lock_dir=tmp_path, slots=2).devices == ["1"]


def test_a_two_gpu_job_sharing_gpus_still_takes_two_distinct_devices(tmp_path):
    single = gpu.acquire(["0", "1"], lock_dir=tmp_path, slots=2)
    pair = gpu.acquire(["0", "1"], count=2, lock_dir=tmp_path, slots=2)
    assert single.devices == ["0"] and sorted(pair.devices) == ["0", "1"]


def test_jobs_per_gpu_comes_from_the_environment_and_a_bad_value_is_named(tmp_path, no_gpu_env):
    no_gpu_env.setenv(gpu.COUNT_ENV, "1")
    no_gpu_env.setenv(gpu.SHARING_ENV, "3")
    messages = []
    with gpu.gpus_for_job(1, messages.append, lock_dir=tmp_path) as first, \
            gpu.gpus_for_job(1, messages.append, lock_dir=tmp_path) as second:
        assert first == second == ["0"]
    assert messages == ["leased GPU(s) 0 of 0 (up to 3 jobs each): CUDA_VISIBLE_DEVICES=0"] * 2
    for bad in ("0", "two"):
        no_gpu_env.setenv(gpu.SHARING_ENV, bad)
        with pytest.raises(ValueError, match=f"MNISTFLOW_JOBS_PER_GPU='{bad}': expected how many jobs may share"):
            gpu.jobs_per_gpu()


def test_a_two_gpu_job_takes_two_devices_or_none(tmp_path):
    single = gpu.acquire(["0", "1", "2"], lock_dir=tmp_path)
    pair = gpu.acquire(["0", "1", "2"], count=2, lock_dir=tmp_path)
    assert single.devices == ["0"] and pair.devices == ["1", "2"]
    with pytest.raises(ValueError, match=r"asks for 4 GPU\(s\) but this machine has 3 \(0, 1, 2\)"):
        gpu.acquire(["0", "1", "2"], count=4, lock_dir=tmp_path)


def test_a_killed_job_frees_its_device(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from mnistflow import gpu;"
         f"lease = gpu.acquire(['0'], lock_dir=Path({str(tmp_path)!r})); print(lease.devices[0], flush=True);"
         "time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "0"
        assert gpu.try_lock(tmp_path / "gpu-0.lock") is None
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert gpu.acquire(["0"], lock_dir=tmp_path).devices == ["0"]


def test_job_sees_only_its_leased_device_and_releases_it_on_failure(tmp_path, no_gpu_env):
    no_gpu_env.setenv(gpu.COUNT_ENV, "2")
    other_job = gpu.acquire(["0", "1"], lock_dir=tmp_path)
    messages = []
    with pytest.raises(RuntimeError):
        with gpu.gpus_for_job(1, messages.append, lock_dir=tmp_path) as devices:
            assert devices == ["1"] and os.environ["CUDA_VISIBLE_DEVICES"] == "1"
            raise RuntimeError("the job failed")
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert messages == ["leased GPU(s) 1 of 0, 1: CUDA_VISIBLE_DEVICES=1"]
    assert gpu.acquire(["1"], lock_dir=tmp_path).devices == ["1"]
    other_job.release()


def test_leases_come_from_the_users_visible_devices(tmp_path, no_gpu_env):
    no_gpu_env.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    held = gpu.acquire(["2"], lock_dir=tmp_path)
    with gpu.gpus_for_job(1, print, lock_dir=tmp_path) as devices:
        assert devices == ["5"] and os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,5"
    held.release()


def test_the_schedulers_assignment_is_used_as_is(tmp_path, no_gpu_env):
    no_gpu_env.setenv("SLURM_JOB_ID", "42")
    no_gpu_env.setenv("CUDA_VISIBLE_DEVICES", "3")
    no_gpu_env.setenv(gpu.COUNT_ENV, "8")
    messages = []
    with gpu.gpus_for_job(1, messages.append, lock_dir=tmp_path) as devices:
        assert devices == ["3"] and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert messages == ["GPU(s) assigned by SLURM: CUDA_VISIBLE_DEVICES=3"]
    assert not tmp_path.joinpath("gpu-3.lock").exists()


def test_no_gpu_means_the_cpu_and_no_lease(tmp_path, no_gpu_env, monkeypatch):
    monkeypatch.setattr(gpu, "DRIVER_GPU_DIR", tmp_path / "absent")
    monkeypatch.setattr(gpu.shutil, "which", lambda name: None)  # no nvidia-smi either
    messages = []
    with gpu.gpus_for_job(1, messages.append, lock_dir=tmp_path / "leases") as devices:
        assert devices == [] and "CUDA_VISIBLE_DEVICES" not in os.environ
    assert messages == ["no GPU on this machine: running on the CPU"]
    with gpu.gpus_for_job(0, messages.append, lock_dir=tmp_path / "leases") as devices:
        assert devices == []
    assert not (tmp_path / "leases").exists()


def test_driver_folder_gives_the_count(tmp_path, no_gpu_env, monkeypatch):
    for index in range(3):
        (tmp_path / f"0000:0{index}:00.0").mkdir()
    monkeypatch.setattr(gpu, "DRIVER_GPU_DIR", tmp_path)
    assert gpu.machine_devices() == ["0", "1", "2"]
    no_gpu_env.setenv(gpu.COUNT_ENV, "two")
    with pytest.raises(ValueError, match="MNISTFLOW_GPU_COUNT='two': expected a number of GPUs"):
        gpu.machine_devices()


def test_rule_context_leases_for_gpu_rules_only(tmp_path, no_gpu_env, monkeypatch):
    no_gpu_env.setenv(gpu.COUNT_ENV, "1")
    monkeypatch.chdir(tmp_path)
    log_file = tmp_path / "train.log"

    def job(rule, resources):
        return types.SimpleNamespace(rule=rule, log=[str(log_file)], threads=1, wildcards={},
                                     resources=types.SimpleNamespace(get=resources.get))

    with rule_context(job("train", {"gpu": 1})):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    text = log_file.read_text()
    assert "leased GPU(s) 0 of 0: CUDA_VISIBLE_DEVICES=0" in text
    assert (tmp_path / ".snakemake/gpu-leases/gpu-0.lock").is_file()
    with rule_context(job("plot_curves", {})):
        assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert "leased" not in log_file.read_text()


def test_a_job_that_resumes_starts_its_log_with_the_earlier_attempt(tmp_path, no_gpu_env):
    """Snakemake deletes a job's log before it runs again: the earlier attempt's lines come back
    from the copy beside the resume file."""
    log_file, resume = tmp_path / "train.log", tmp_path / "resume.pt"

    def job():
        return types.SimpleNamespace(rule="train", log=[str(log_file)], threads=1, wildcards={},
                                     resources=types.SimpleNamespace(get={}.get),
                                     params=types.SimpleNamespace(resume=str(resume)))

    with pytest.raises(KeyboardInterrupt):
        with rule_context(job()) as log:
            log.info("epoch 1: before the kill")
            resume.write_bytes(b"state")  # the trainer's resume file after epoch 1
            raise KeyboardInterrupt
    log_file.unlink()  # what Snakemake does before running the job again
    with rule_context(job()) as log:
        log.info("epoch 2: after resuming")
        resume.unlink()  # the script removes it once the run is complete
    text = log_file.read_text()
    assert text.index("epoch 1: before the kill") < text.index(f"--- this job starts again with {resume} there")
    assert text.index(f"--- this job starts again with {resume}") < text.index("epoch 2: after resuming")
    assert re.search(r" done in [0-9.]+ s$", text.splitlines()[-1])
    assert not (tmp_path / "resume.pt.log").exists()  # finished: the copy is gone
    with rule_context(job()) as log:  # a fresh start (no resume file) replaces the log
        log.info("a new run")
    assert "before the kill" not in log_file.read_text()


def test_a_second_job_on_a_live_jobs_resume_file_is_refused_leaving_its_log(tmp_path, no_gpu_env, capsys):
    """What ``snakemake --unlock`` during a run allows: a second workflow starting the same job."""
    resume = tmp_path / "resume.pt"

    def job(name):
        return types.SimpleNamespace(rule="train", log=[str(tmp_path / f"{name}.log")], threads=1, wildcards={},
                                     resources=types.SimpleNamespace(get={}.get),
                                     params=types.SimpleNamespace(resume=str(resume)))

    with rule_context(job("first")) as log:
        log.info("epoch 1 of the first")
        resume.write_bytes(b"state")
        with pytest.raises(SystemExit) as refused:
            with rule_context(job("second")):
                pytest.fail("the second job ran")
        assert refused.value.code == 1
        assert capsys.readouterr().err == (
            f"{resume}: another job is using this resume file (process {os.getpid()} holds {resume}.lock); a second "
            f"would train the same run from it and overwrite its log {resume}.log. Let that job finish or stop it, "
            f"then run again (snakemake --unlock does not stop a running workflow)\n")
        assert not (tmp_path / "second.log").exists()
        assert "epoch 1 of the first" in (tmp_path / "resume.pt.log").read_text()
        log.info("epoch 2 of the first")
    assert not (tmp_path / "resume.pt.lock").exists()  # ended: the lock is gone with it
    with rule_context(job("second")) as log:  # and the next job takes it
        assert (tmp_path / "resume.pt.lock").read_text() == f"{os.getpid()}\n"


def test_a_filesystem_without_locks_runs_the_job_unguarded_saying_so(tmp_path, monkeypatch):
    import errno

    from mnistflow import jobs

    def no_locks(path):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(jobs, "try_lock", no_locks)
    said = []
    lock = jobs.ResumeLock(tmp_path / "resume.pt", log=said.append)
    assert lock.handle is None and said == [f"{tmp_path / 'resume.pt.lock'}: this filesystem takes no locks "
                                           "(No locks available); the job runs without one"]
    lock.release()  # nothing to release



def test_cuda_graphs_follow_the_setting_and_on_is_refused_without_a_gpu():
    from mnistflow.graphs import graphs_wanted

    assert graphs_wanted("auto", "cuda") and not graphs_wanted("auto", "cpu")
    assert not graphs_wanted("off", "cuda") and graphs_wanted("on", "cuda")
    with pytest.raises(ValueError, match="train.cuda_graphs: on, but this job runs on cpu, without a GPU: set it to "
                                         "auto or off"):
        graphs_wanted("on", "cpu")
