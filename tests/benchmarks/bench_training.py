"""Benchmark: the project's training path against the usual PyTorch way and the machine's peak.

Run from the repository root (not part of the default pytest run):

    python tests/benchmarks/bench_training.py              # ~5 min on a 2-core CPU
    python tests/benchmarks/bench_training.py --repeats 3  # best of 3 (the README's numbers)
    python tests/benchmarks/bench_training.py --device cuda

Inputs:  Fashion-MNIST IDX files from the config's `data_dirs` (Debian's
         dataset-fashion-mnist package); without them, generated data of the same
         shape (60,000 + 10,000 images of 28x28, 10 classes), and the output says so.
Outputs: a results table on stdout; `--json PATH` also writes every number as JSON.

In one process it measures
  1. the project's training path (mlpstudy.training.train_pack) for one run of the
     report's protocol (base MLP 784-256-10, SGD lr 0.1, batch 64, one epoch, full
     train + test evaluation every 20 iterations), from the prepared tensor file;
  2. the same protocol written the usual way: torchvision's FashionMNIST dataset
     class with ToTensor, DataLoader(batch_size=64, shuffle=True) for training and
     DataLoaders (batch_size=1000, as in pytorch/examples' mnist) over the full
     train and test sets for every evaluation. It is slow, so by default it runs up
     to its --reference-evals'th evaluation and the full run's time is extrapolated
     (training-step time and evaluation time scaled separately; the table marks it);
     --reference-evals 0 runs it in full;
  3. the fp32 matrix-multiply peak (torch.mm on square matrices, best of several)
     and the run's FLOP count (forward, weight- and input-gradient matmuls of the
     linear layers, counted analytically; activations and losses not counted);
and the same for the widest ablation (hidden 2048). It also times a small study
through the `snakemake` CLI in a temporary copy of the workflow against the same
runs as standalone processes (imports included), and the peak memory (max RSS)
of a standalone training process.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning. On a small machine shared with other
# work, a spinning thread steals the time slice its partner needs and each parallel
# region then waits for a descheduled thread (measured here: 2-thread training steps
# 6x slower under load). Set before torch loads OpenMP; it applies to every
# measurement below alike. OMP_WAIT_POLICY=ACTIVE in the environment overrides it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402
from torch import nn  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "workflow" / "scripts"
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(REPO / "tests"))

from mlpstudy.config import validate  # noqa: E402
from mlpstudy.datasets import IDX_FILES, DataError, prepare  # noqa: E402
from mlpstudy.evaluation import keep_freed_memory  # noqa: E402
from mlpstudy import flops  # noqa: E402
from mlpstudy.files import save_atomic  # noqa: E402
from mlpstudy.plan import hparams, round_packs  # noqa: E402
from mlpstudy.training import train_pack  # noqa: E402
from conftest import copy_workflow, write_idx  # noqa: E402  (the tests' helpers)

DATASET = "fashion-mnist"


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- data

def generated_idx_dir(directory: Path) -> Path:
    """IDX files shaped like Fashion-MNIST: each class brightens its own band of rows."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 60_000), ("test", 10_000)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 120, (n, 28, 28)).astype(np.uint8)
        for label in range(10):
            x[y == label, 2 * label:2 * label + 6, :] += 100
        write_idx(directory / IDX_FILES[f"{split}_x"], x)
        write_idx(directory / IDX_FILES[f"{split}_y"], y)
    return directory


def find_data(tmp: Path) -> tuple[dict, Path, str]:
    """(prepared dict, directory of IDX files, description) of Fashion-MNIST or its stand-in."""
    config = validate(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    try:
        data = prepare(DATASET, {"data_dirs": config["data_dirs"], "download": False}, tmp / "dl")
        return data, Path(data["source"]["dir"]), f"{DATASET} (real, {data['source']['dir']})"
    except DataError:
        directory = generated_idx_dir(tmp / "generated")
        data = prepare("generated", {"custom_datasets": {"generated": str(directory)}}, tmp / "dl")
        return data, directory, "generated data of Fashion-MNIST's shape (no local copy found)"


def torchvision_root(idx_dir: Path, root: Path) -> Path:
    """torchvision's raw layout (FashionMNIST/raw/<stem>), decompressed, so it reads offline."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for stem in IDX_FILES.values():
        src = idx_dir / stem
        if src.exists():
            shutil.copyfile(src, raw / stem)
        else:
            with gzip.open(idx_dir / f"{stem}.gz", "rb") as fh:
                (raw / stem).write_bytes(fh.read())
    return root


# ---------------------------------------------------------------- FLOPs and peak

def run_flops(hp: dict, n_train: int, n_test: int, steps: int, evals: int, features=784,
              classes=10) -> dict:
    """Matmul FLOPs of one run (counted by mlpstudy.flops.run_flops), training and evaluation."""
    total = flops.run_flops(hp, n_train, n_test, steps, evals, features, classes)
    evaluation = flops.run_flops(hp, n_train, n_test, 0, evals, features, classes)
    return {"train": total - evaluation, "eval": evaluation, "total": total}


def matmul_peak(device: torch.device, repeats: int) -> float:
    """Best fp32 matmul rate (FLOP/s) torch reaches on large square sizes.

    torch.mm (MKL on a CPU), and on a CPU also oneDNN's linear, which the project's
    evaluation uses: the peak is the better of the two, so the fraction is not flattered.
    """
    from mlpstudy.evaluation import ONEDNN
    sizes = (4096, 8192) if device.type == "cuda" else (2048, 3072, 4096)
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        c = torch.empty(n, n, device=device)
        kernels = [lambda: torch.mm(a, b, out=c)]
        if device.type == "cpu" and ONEDNN:
            packed = torch.ops.mkldnn._reorder_linear_weight(b, n)
            kernels.append(lambda: torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], ""))
        for kernel in kernels:
            kernel()
            sync(device)
            for _ in range(repeats):
                start = time.perf_counter()
                kernel()
                sync(device)
                best = max(best, 2 * n ** 3 / (time.perf_counter() - start))
    return best


# ---------------------------------------------------------------- the two implementations

def project_run(prepared: Path, hp: dict, device: torch.device, seed: int = 0,
                checkpoint: Path | None = None, tensorboard: Path | None = None) -> dict:
    """The project's path, from the prepared tensor file to the final numbers (with
    `tensorboard`, writing the run's live curves there as a training job does)."""
    from mlpstudy.datasets import load_prepared
    from mlpstudy.live import TensorBoardCurves
    sync(device)
    start = time.perf_counter()
    data = load_prepared(prepared)
    curves = (lambda s: TensorBoardCurves(tensorboard / f"seed{s}")) if tensorboard else None
    (result,) = train_pack(hp, data, [seed], device, log=lambda _: None, curves=curves,
                           checkpoints={seed: checkpoint} if checkpoint else None)
    if checkpoint:
        checkpoint.unlink()  # the finished run's checkpoint: the next repeat starts afresh
    sync(device)
    wall = time.perf_counter() - start
    evals = len({r[0] for r in result.rows if r[2] == "test"})
    return {"wall_s": wall, "steps": result.steps, "evals": evals, "final": result.final,
            "n_train": len(data["train_y"]), "n_test": len(data["test_y"])}


def reference_run(root: Path, hp: dict, device: torch.device, max_evals: int, seed: int = 0) -> dict:
    """The usual way: torchvision dataset + ToTensor + DataLoader, DataLoader evaluation.

    Stops after evaluation number `max_evals` (0: never) and extrapolates the full run.
    """
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    sync(device)
    start = time.perf_counter()
    to_tensor = transforms.ToTensor()
    train_set = datasets.FashionMNIST(str(root), train=True, transform=to_tensor, download=False)
    test_set = datasets.FashionMNIST(str(root), train=False, transform=to_tensor, download=False)
    train_loader = DataLoader(train_set, batch_size=hp["batch_size"], shuffle=True)
    eval_loaders = {"train": DataLoader(train_set, batch_size=1000),
                    "test": DataLoader(test_set, batch_size=1000)}
    width = hp["hidden"][0]
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(), nn.Linear(width, 10)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=hp["lr"])
    setup = time.perf_counter() - start

    def evaluate(loader):
        model.eval()
        loss, correct = 0.0, 0
        with torch.no_grad():
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                out = model(x)
                loss += F.cross_entropy(out, y, reduction="sum").item()
                correct += (out.argmax(1) == y).sum().item()
        model.train()
        return loss / len(loader.dataset), correct / len(loader.dataset)

    total_steps = len(train_loader) * hp["epochs"]
    total_evals = len(set(range(0, total_steps, hp["eval_every"])) | {total_steps})
    eval_time, evals, step, final = 0.0, 0, 0, {}

    def run_eval():
        nonlocal eval_time, evals, final
        t = time.perf_counter()
        for split, loader in eval_loaders.items():
            final[f"{split}_loss"], final[f"{split}_accuracy"] = evaluate(loader)
        eval_time += time.perf_counter() - t
        evals += 1
        return max_evals and evals >= max_evals

    stop = run_eval()
    for _ in range(hp["epochs"]):
        for x, y in train_loader:
            if stop:
                break
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            step += 1
            if step % hp["eval_every"] == 0 or step == total_steps:
                stop = run_eval()
    sync(device)
    wall = time.perf_counter() - start
    step_time = wall - setup - eval_time
    full = step == total_steps
    estimate = wall if full else setup + step_time / step * total_steps + eval_time / evals * total_evals
    return {"wall_s": estimate, "measured_s": wall, "extrapolated": not full,
            "steps_run": step, "evals_run": evals, "steps": total_steps, "evals": total_evals,
            "final": final if full else {}}


# ---------------------------------------------------------------- workflow overhead

STANDALONE = textwrap.dedent("""
    import sys, time, json
    sys.path.insert(0, {scripts!r})
    import torch
    torch.set_num_threads(1)
    import yaml
    from mlpstudy.config import validate
    from mlpstudy.datasets import load_prepared
    from mlpstudy.files import write_json_atomic, write_text_atomic
    from mlpstudy.plan import hparams
    from mlpstudy.runs import metrics_csv
    from mlpstudy.training import train_seed
    config = validate(yaml.safe_load(open({config!r})))
    hp = hparams(config, {ablation!r}, {dataset!r})
    data = load_prepared({data!r})
    result = train_seed(hp, data, {seed}, torch.device("cpu"), log=lambda _: None)
    write_text_atomic({out!r} + "/metrics.csv", metrics_csv(result.rows))
    write_json_atomic({out!r} + "/run.json", {{"hparams": hp, "final": result.final,
                      "status": result.status, "param_count": result.param_count}})
    # VmHWM: this program's own peak. getrusage's ru_maxrss would also count the
    # benchmark process it was forked from (Linux keeps the larger across exec).
    hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    open({out!r} + "/peak_rss", "w").write(str(int(hwm.split()[1]) * 1024))
""")

PREPARE = textwrap.dedent("""
    import sys
    sys.path.insert(0, {scripts!r})
    from pathlib import Path
    from mlpstudy.datasets import prepare
    from mlpstudy.files import save_atomic
    save_atomic(prepare({name!r}, {options!r}, Path({out!r}) / "dl"), {out!r} + "/data.pt")
""")


def child(code: str, cwd: Path) -> tuple[float, int]:
    """Run `python -c code`; its wall time (s) and peak memory (max RSS, bytes)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"standalone process failed:\n{code}")
    return wall, usage.ru_maxrss * 1024


def snakemake(workdir: Path, cores: int, targets: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(["snakemake", "--cores", str(cores), "--forceall", *targets], cwd=workdir,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed:\n{proc.stdout[-4000:]}")
    return wall


def workflow_overhead(tmp: Path, idx_dir: Path, real: bool, ablations: list[str], seeds: list[int],
                      cores: int) -> dict:
    """Snakemake wall time against the sum of the same runs as standalone processes."""
    workdir = copy_workflow(tmp / "workflow")
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    name = DATASET if real else "generated"
    config = {**base, "dataset": name, "seeds": seeds, "download": False, "device": "cpu",
              "ablations": {a: base["ablations"][a] for a in ablations},
              "data_dirs": [str(idx_dir.parent / "{name}")] if real else base["data_dirs"],
              "custom_datasets": {} if real else {"generated": str(idx_dir)}}
    for key in ("figure_groups", "claims"):  # these name ablations the small study lacks
        config.pop(key, None)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    validate(config)
    packs = list(round_packs(validate(config))[0])
    targets = [f"results/runs/{name}/{a}/{pack}" for a in ablations for pack in packs]

    # Standalone: the same work as the workflow's jobs, one process each, one after another.
    options = ({"data_dirs": config["data_dirs"], "download": False} if real
               else {"custom_datasets": config["custom_datasets"]})
    out = tmp / "standalone"
    out.mkdir()
    walls, rss = {}, {}
    walls["prepare"], _ = child(PREPARE.format(scripts=str(SCRIPTS), name=name, options=options,
                                               out=str(out)), tmp)
    for a in ablations:
        for s in seeds:
            run_dir = out / a / f"seed{s}"
            run_dir.mkdir(parents=True)
            code = STANDALONE.format(scripts=str(SCRIPTS), config=str(workdir / "config" / "config.yaml"),
                                     ablation=a, dataset=name, data=str(out / "data.pt"), seed=s, out=str(run_dir))
            walls[f"{a}/seed{s}"], _ = child(code, tmp)
            rss[f"{a}/seed{s}"] = int((run_dir / "peak_rss").read_text())
    standalone = sum(walls.values())
    sequential = snakemake(workdir, 1, targets)
    parallel = snakemake(workdir, cores, targets)
    threads = {json.loads(run.read_text())["threads"]
               for t in targets for run in (workdir / t).glob("seed*/run.json")}
    return {"runs": len(ablations) * len(seeds), "ablations": ablations, "seeds": seeds,
            "standalone_s": walls, "standalone_sum_s": standalone,
            "snakemake_cores1_s": sequential, "snakemake_parallel_s": parallel, "cores": cores,
            "job_threads": max(threads), "overhead_sequential": sequential / standalone,
            "overhead_parallel_per_core": parallel * min(cores, len(targets) // 2) / standalone,
            "max_rss_bytes": rss}


def checkpoint_overhead(prepared: Path, hp: dict, device, tmp: Path, repeats: int) -> dict:
    """A base run without and with checkpoints (every hp["checkpoint_every"] steps), interleaved."""
    print(f"\n== checkpoints every {hp['checkpoint_every']} steps ({load()})", flush=True)
    plain, saved = [], []
    for _ in range(repeats):
        run = project_run(prepared, hp, device)
        plain.append(run["wall_s"])
        saved.append(project_run(prepared, hp, device, checkpoint=tmp / "ckpt.pt")["wall_s"])
    total = run["steps"]
    saves = (total - 1) // hp["checkpoint_every"] + 1  # every N steps, and once finished
    overhead = min(saved) / min(plain) - 1
    print(f"without: {min(plain):.2f} s, with: {min(saved):.2f} s -> overhead {overhead:+.1%} "
          f"({saves} saves); a kill redoes at most {hp['checkpoint_every'] - 1} of {total} steps "
          f"({load()})", flush=True)
    return {"every": hp["checkpoint_every"], "without_s": plain, "with_s": saved,
            "overhead": overhead, "saves": saves, "steps": total}


def tensorboard_overhead(prepared: Path, hp: dict, device, tmp: Path, repeats: int) -> dict:
    """A base run without and with its live TensorBoard curves, interleaved."""
    print(f"\n== live TensorBoard curves ({load()})", flush=True)
    plain, live = [], []
    for _ in range(repeats):
        plain.append(project_run(prepared, hp, device)["wall_s"])
        live.append(project_run(prepared, hp, device, tensorboard=tmp / "tb")["wall_s"])
    overhead = min(live) / min(plain) - 1
    print(f"without: {min(plain):.2f} s, with: {min(live):.2f} s -> overhead {overhead:+.1%} "
          f"(runs without {', '.join(f'{t:.2f}' for t in plain)}; with "
          f"{', '.join(f'{t:.2f}' for t in live)}) ({load()})", flush=True)
    return {"without_s": plain, "with_s": live, "overhead": overhead}


# ---------------------------------------------------------------- main

def compare(name: str, hp: dict, prepared: Path, root: Path, device, peak: float, args) -> dict:
    print(f"\n== {name}: hidden {hp['hidden']} ({load()})", flush=True)
    project = min((project_run(prepared, hp, device) for _ in range(args.repeats)),
                  key=lambda r: r["wall_s"])
    flops = run_flops(hp, project["n_train"], project["n_test"], project["steps"], project["evals"])
    print(f"project:   {project['wall_s']:.2f} s, {project['steps']} steps, {project['evals']} "
          f"evaluations, {flops['total'] / 1e12:.3f} TFLOP, final {project['final']} ({load()})",
          flush=True)
    max_evals = args.reference_evals if name == "base" else args.wide_reference_evals
    reference = reference_run(root, hp, device, max_evals)
    how = (f"extrapolated from {reference['evals_run']}/{reference['evals']} evaluations and "
           f"{reference['steps_run']}/{reference['steps']} steps, measured "
           f"{reference['measured_s']:.1f} s" if reference["extrapolated"] else "full run")
    print(f"reference: {reference['wall_s']:.2f} s ({how}) final {reference['final']} ({load()})",
          flush=True)
    rate = flops["total"] / project["wall_s"]
    return {"hp_hidden": hp["hidden"], "project": project, "reference": reference, "flops": flops,
            "achieved_flop_s": rate, "fraction_of_peak": rate / peak,
            "speedup": reference["wall_s"] / project["wall_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch threads of this process (default: all cores)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="project runs and peak rounds per measurement; the best counts")
    parser.add_argument("--reference-evals", type=int, default=12,
                        help="base reference: stop after this many evaluations and extrapolate "
                             "(0: full run, about 48 evaluations)")
    parser.add_argument("--wide-reference-evals", type=int, default=3,
                        help="the same for the hidden-2048 reference")
    parser.add_argument("--parts", default="base,wide,workflow,checkpoint,tensorboard",
                        help="comma-separated subset of base, wide (hidden 2048), workflow, "
                             "checkpoint (a base run with and without checkpoints), "
                             "tensorboard (a base run with and without its live curves)")
    parser.add_argument("--workflow-ablations", default="base,hidden_24")
    parser.add_argument("--workflow-seeds", default="0,1")
    parser.add_argument("--json", type=Path, help="also write all numbers here")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as a training job does (train.py)
    cores = len(os.sched_getaffinity(0))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    machine = {"cpu": cpu, "cores": cores, "torch": torch.__version__, "threads": args.threads,
               "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
               "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    print(f"machine: {machine} ({load()})", flush=True)

    results: dict = {"machine": machine}
    with tempfile.TemporaryDirectory(prefix="mlpstudy-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data, idx_dir, described = find_data(tmp)
        results["data"] = described
        print(f"data: {described}", flush=True)
        prepared = tmp / "prepared.pt"
        save_atomic(data, prepared)
        root = torchvision_root(idx_dir, tmp / "torchvision")

        peak = matmul_peak(device, max(3, args.repeats * 2))
        print(f"fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s ({load()})", flush=True)
        base_hp = {**hparams(validate(yaml.safe_load((REPO / "config" / "config.yaml").read_text())),
                             "base", DATASET)}
        parts = args.parts.split(",")
        if "base" in parts:
            results["base"] = compare("base", base_hp, prepared, root, device, peak, args)
        if "wide" in parts:
            results["hidden_2048"] = compare("hidden_2048", {**base_hp, "hidden": [2048]}, prepared,
                                             root, device, peak, args)
        # Measured again at the end: load from other processes only ever lowers it.
        peak = max(peak, matmul_peak(device, max(3, args.repeats * 2)))
        results["peak_flop_s"] = peak
        for key in ("base", "hidden_2048"):
            if key in results:
                results[key]["fraction_of_peak"] = results[key]["achieved_flop_s"] / peak
        if "checkpoint" in parts:
            results["checkpoint"] = checkpoint_overhead(prepared, base_hp, device, tmp,
                                                        max(2, args.repeats))
        if "tensorboard" in parts:
            results["tensorboard"] = tensorboard_overhead(prepared, base_hp, device, tmp,
                                                          max(3, args.repeats))
        if "workflow" in parts:
            print(f"\n== workflow overhead ({load()})", flush=True)
            results["workflow"] = workflow_overhead(
                tmp, idx_dir, not described.startswith("generated"),
                args.workflow_ablations.split(","), [int(s) for s in args.workflow_seeds.split(",")],
                cores)
        results["load_at_end"] = os.getloadavg()

    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")


def print_table(results: dict) -> None:
    m = results["machine"]
    print(f"\n=== results: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} "
          f"thread(s), device {m['device']}; data: {results['data']}")
    print(f"fp32 matmul peak (torch.mm / oneDNN linear, best of several): {results['peak_flop_s'] / 1e9:.1f} GFLOP/s")
    print(f"{'run':<12} {'project s':>10} {'reference s':>12} {'speed-up':>9} {'TFLOP':>7} "
          f"{'GFLOP/s':>8} {'of peak':>8}  targets: >=25x, >=65% (base)")
    for key in ("base", "hidden_2048"):
        if key in results:
            r = results[key]
            mark = "*" if r["reference"]["extrapolated"] else ""
            print(f"{key:<12} {r['project']['wall_s']:>10.2f} {r['reference']['wall_s']:>11.1f}{mark:1} "
                  f"{r['speedup']:>8.1f}x {r['flops']['total'] / 1e12:>7.3f} "
                  f"{r['achieved_flop_s'] / 1e9:>8.1f} {100 * r['fraction_of_peak']:>7.1f}%")
    if any(results[k]["reference"]["extrapolated"] for k in ("base", "hidden_2048") if k in results):
        print("* reference time extrapolated from a prefix of its run (see above); "
              "--reference-evals 0 --wide-reference-evals 0 runs it in full")
    w = results.get("workflow")
    if w:
        print(f"workflow: {w['runs']} runs ({','.join(w['ablations'])} x seeds "
              f"{','.join(map(str, w['seeds']))}) + dataset preparation, jobs of "
              f"{w['job_threads']} thread(s)")
        print(f"  standalone processes, one after another: {w['standalone_sum_s']:.1f} s (sum)")
        print(f"  snakemake --cores 1: {w['snakemake_cores1_s']:.1f} s -> overhead "
              f"{w['overhead_sequential']:.3f}x (target <= 1.15x)")
        jobs = min(w["cores"], w["runs"])
        print(f"  snakemake --cores {w['cores']}: {w['snakemake_parallel_s']:.1f} s wall; x {jobs} "
              f"cores busy / standalone sum = {w['overhead_parallel_per_core']:.3f}x (per-core)")
        print(f"  jobs x torch threads = {jobs} x {w['job_threads']} <= {w['cores']} cores: "
              f"{jobs * w['job_threads'] <= w['cores']}")
        for run, rss in w["max_rss_bytes"].items():
            print(f"  peak memory (VmHWM) of standalone {run}: {rss / 2 ** 20:.0f} MiB "
                  f"(target < 1024 MiB for base)")
    print(f"load average at the end: {results['load_at_end']}")


if __name__ == "__main__":
    main()
