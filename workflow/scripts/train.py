"""Train one pack of seeds of one (dataset, ablation) and write each seed's curves and metadata.

Inputs:  snakemake.input.data -- results/data/{dataset}.pt; input.code -- the package (for reruns).
Outputs: output.runs -- the pack's directory results/runs/{dataset}/{ablation}/{pack}, with per
         seed seed{N}/metrics.csv (step, epoch, split, metric, value), seed{N}/test_predictions.npz
         (the class predicted for each test example at each evaluation, mlpstudy.predictions)
         and seed{N}/run.json (hyper-parameters, parameter count, device, status, timings,
         versions, dataset and predictions checksums).
Params:  hparams (resolved dict), seeds (the pack), on_divergence.
Checkpoints: under results/checkpoints/ (mlpstudy.checkpoints), outside the outputs, so
         Snakemake never deletes them when a job dies; removed once the outputs are written.
Resources/threads: gpu (0 or 1): 1 claims a free GPU slot (mlpstudy.devices), falling back to
         the CPU where CUDA does not work; threads sets torch's thread count.
Config:  tensorboard -- write each seed's curves live under results/tensorboard/ (mlpstudy.live),
         then, where its ablation has other jobs, the mean over the seeds finished so far
         (live.mean_so_far);
         read from the config, not params: it changes how a job runs, not what it computes.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import json
import signal
import time
from datetime import datetime, timezone

import torch

from mlpstudy import checkpoints
from mlpstudy.datasets import load_prepared
from mlpstudy.devices import choose_device, trains_batched
from mlpstudy.evaluation import keep_freed_memory
from mlpstudy.flops import matmul_probe, record_flops
from mlpstudy.live import (TENSORBOARD_ROOT, TensorBoardCurves, mean_run_dir, mean_so_far,
                           tensorboard_dir)
from mlpstudy.runs import write_run
from mlpstudy.training import Interrupted, train_pack

sm = snakemake  # noqa: F821
started = time.perf_counter()
started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
torch.set_num_threads(sm.threads)
keep_freed_memory()  # evaluation chunks reuse memory instead of page-faulting it anew
log = lambda line: print(line, file=sys.stderr)  # noqa: E731
hp, seeds = dict(sm.params.hparams), [int(s) for s in sm.params.seeds]
dataset, ablation = sm.wildcards.dataset, sm.wildcards.ablation
# A GPU job holds its GPU slot (a lock released when this process ends) until it exits.
device, gpu_slot = choose_device(int(sm.resources.get("gpu", 0)), log=log)
batched = trains_batched(device)
log(f"{dataset}/{ablation} seeds {seeds} on {device}"
    f"{f' (GPU {gpu_slot.gpu_id})' if gpu_slot else ''} with {sm.threads} thread(s), "
    f"{'batched' if batched else 'one seed after another'}\n"
    f"hyper-parameters: {json.dumps(hp, sort_keys=True)}")

checkpoint_paths = checkpoints.of_job(dataset, ablation, sm.wildcards.pack, seeds)
log(f"checkpoints: {', '.join(sorted(set(map(str, checkpoint_paths.values()))))}")
data_sha256 = checkpoints.bind_to_inputs(checkpoint_paths.values(), sm.input.data, sm.input.code,
                                         log=log)
data = load_prepared(sm.input.data)

# SLURM sends SIGTERM at a time limit or preemption (then SIGKILL): save the current step
# and exit, so the next attempt (a requeue, a retry, the same command) loses nothing.
terminated = []
signal.signal(signal.SIGTERM, lambda signum, frame: terminated.append(signum))
curves = None
if sm.config["tensorboard"]:
    def curves(seed):
        return TensorBoardCurves(tensorboard_dir(TENSORBOARD_ROOT, dataset, ablation, seed))
    log(f"live curves: tensorboard --logdir {TENSORBOARD_ROOT}")
try:
    results = train_pack(hp, data, seeds, device, on_divergence=sm.params.on_divergence,
                         checkpoints=checkpoint_paths, batched=batched, log=log,
                         should_stop=lambda: bool(terminated), curves=curves)
except Interrupted as exc:
    log(f"SIGTERM: {exc}; run the study again to resume")
    sys.exit(128 + signal.SIGTERM)

# What the job computed and how fast, beside what a short matmul probe reaches in this very
# process now: on a shared machine the rate measured before or after a study is not the rate
# during it, and the summary's efficiency compares each job with its own probe.
pack_flop = record_flops(results, hp, batched, n_train=len(data["train_y"]),
                         n_test=len(data["test_y"]), features=data["train_x"][0].numel(),
                         classes=data["classes"])
probe = matmul_probe(device)
log(f"matmul FLOPs {pack_flop / 1e9:.1f} G in {sum(r.seconds for r in results):.2f} s of "
    f"training; the job's matmul probe: {probe['flop_rate'] / 1e9:.1f} GFLOP/s "
    f"({1000 * probe['seconds']:.0f} ms)")

job = {"dataset": dataset, "ablation": ablation, "hparams": hp,
       "pack_seeds": seeds, "batched": batched, "device": device, "threads": sm.threads,
       "started_at": started_at, "job_wall_time_s": round(time.perf_counter() - started, 3),
       "dataset_sha256": data_sha256, "dataset_source": data["source"],
       "probe_flop_rate": probe["flop_rate"], "probe_s": round(probe["seconds"], 4)}
for seed, result in zip(seeds, results):
    write_run(sm.output.runs, job, seed, result, data["test_y"].numpy())
checkpoints.remove(checkpoint_paths.values())
log("done: " + ", ".join(f"seed {s} {r.status}" for s, r in zip(seeds, results)))
if sm.config["tensorboard"]:
    # A child process: about 0.4 s where this is the ablation's only job (seed_group writes
    # the mean next), about 2 s of imports where it writes (docs/performance.md).
    mean_so_far(sm.output.runs, mean_run_dir(TENSORBOARD_ROOT, dataset, ablation),
                dict(sm.config), log=log)
