"""Train one (dataset, ablation, seed) and write its curves and metadata.

Inputs:  snakemake.input.data -- results/data/{dataset}.pt; input.code -- the package (for reruns).
Outputs: output.metrics -- metrics.csv (step, epoch, split, metric, value);
         output.run -- run.json (hyper-parameters, parameter count, device, status, timings,
         versions, dataset checksum).
Params:  hparams (resolved dict), on_divergence, checkpoint (path outside the outputs).
Resources/threads: gpu (0 or 1): 1 claims a free GPU slot (mlpstudy.devices), falling back to
         the CPU where CUDA does not work; threads sets torch's thread count.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821 (snakemake is injected)

import importlib.metadata
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from mlpstudy.data import file_sha256, load_prepared
from mlpstudy.devices import choose_device
from mlpstudy.runs import metrics_csv, write_json_atomic, write_text_atomic
from mlpstudy.training import train

sm = snakemake  # noqa: F821
started = time.perf_counter()
started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
torch.set_num_threads(sm.threads)
# A GPU job holds its GPU slot (a lock released when this process ends) until it exits.
device, gpu_slot = choose_device(int(sm.resources.get("gpu", 0)),
                                 log=lambda line: print(line, file=sys.stderr))
hp = dict(sm.params.hparams)
seed = int(sm.wildcards.seed)
print(f"{sm.wildcards.dataset}/{sm.wildcards.ablation} seed {seed} on {device}"
      f"{f' (GPU {gpu_slot.gpu_id})' if gpu_slot else ''} "
      f"with {sm.threads} thread(s)\nhyper-parameters: {json.dumps(hp, sort_keys=True)}",
      file=sys.stderr)

# A checkpoint resumes only the inputs it was made from: after the data or the package
# code changed, a killed job's checkpoint would mix old results into the new run.
checkpoint = Path(sm.params.checkpoint)
stamp = checkpoint.with_name(checkpoint.name + ".inputs")
data_sha256 = file_sha256(sm.input.data)
inputs = json.dumps({sm.input.data: data_sha256,
                     **{path: file_sha256(path) for path in sorted(sm.input.code)}}, sort_keys=True)
if checkpoint.exists() and (not stamp.exists() or stamp.read_text() != inputs):
    print("discarding the checkpoint of an earlier attempt: data or code changed since",
          file=sys.stderr)
    checkpoint.unlink()
write_text_atomic(stamp, inputs)

data = load_prepared(sm.input.data)
result = train(hp, data, seed, device, on_divergence=sm.params.on_divergence,
               checkpoint=sm.params.checkpoint, log=lambda line: print(line, file=sys.stderr))

write_text_atomic(sm.output.metrics, metrics_csv(result.rows))
write_json_atomic(sm.output.run, {
    "dataset": sm.wildcards.dataset, "ablation": sm.wildcards.ablation, "seed": seed,
    "hparams": hp, "param_count": result.param_count, "status": result.status,
    "diverged_at_step": result.diverged_at_step, "steps": result.steps,
    "resumed_from_epoch": result.resumed_from_epoch, "final": result.final,
    "device": str(device),
    "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
    "threads": sm.threads, "started_at": started_at,
    "wall_time_s": round(time.perf_counter() - started, 3),
    "python_version": platform.python_version(), "torch_version": torch.__version__,
    # The installed distribution's version: importing torchvision only to read it costs
    # ~1.5 s per job (its __init__ imports every model definition).
    "torchvision_version": importlib.metadata.version("torchvision"),
    "dataset_sha256": data_sha256, "dataset_source": data["source"],
})
checkpoint.unlink(missing_ok=True)
stamp.unlink(missing_ok=True)
print(f"done: {result.status}, final {result.final}", file=sys.stderr)
