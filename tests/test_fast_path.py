"""The fast paths of training keep the numbers: the light SGD takes torch.optim.SGD's
steps bitwise, chunked evaluation matches a one-shot one, a resumed momentum run matches an
uninterrupted one, a training job on MNIST-sized data stays small (no torch._dynamo, < 1 GiB), and
evaluation reuses freed memory instead of page-faulting it anew."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from conftest import REPO
from mlpstudy.config import hparam_defaults
from mlpstudy.models import build_mlp
from mlpstudy.evaluation import evaluate_module
from mlpstudy.objective import SGD, criterion
from mlpstudy.training import train_seed

pytestmark = pytest.mark.unit


def hp(**changes):
    return {**hparam_defaults(), **changes}


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.01), (0.9, 0.01)])
def test_light_sgd_takes_torch_optim_sgds_steps_bitwise(momentum, weight_decay):
    torch.manual_seed(0)
    a = build_mlp(hp(hidden=[16]), 20, 3)
    b = build_mlp(hp(hidden=[16]), 20, 3)
    b.load_state_dict(a.state_dict())
    start = [p.detach().clone() for p in a.parameters()]
    ours = SGD(a.parameters(), lr=0.1, momentum=momentum, weight_decay=weight_decay)
    theirs = torch.optim.SGD(b.parameters(), lr=0.1, momentum=momentum, weight_decay=weight_decay)
    for _ in range(20):
        x, y = torch.randn(8, 20), torch.randint(0, 3, (8,))
        for model, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    # and the steps moved every parameter from where both started
    assert all(not torch.equal(p, p0) for p, p0 in zip(a.parameters(), start))


@pytest.mark.parametrize("loss", ["cross_entropy", "kl_div"])
def test_chunked_evaluation_equals_one_pass_over_everything(loss):
    setting = hp(hidden=[32], loss=loss, smoothing=0.1)
    torch.manual_seed(1)
    model = build_mlp(setting, 50, 7)
    x, y = torch.rand(2500, 50), torch.randint(0, 7, (2500,))
    loss_fn = criterion(setting, 7)
    with torch.no_grad():
        logits = model(x)
        expected_loss = loss_fn(logits, y, reduction="sum").item() / len(x)
        expected_acc = (logits.argmax(1) == y).float().mean().item()
    for chunk in (None, 1, 999, 1024, 5000):  # uneven last chunk, one row, default, all at once
        got_loss, got_acc, predicted = evaluate_module(model, x, y, loss_fn, chunk=chunk,
                                                       predictions=True)
        assert got_loss == pytest.approx(expected_loss, rel=1e-5)
        assert got_acc == pytest.approx(expected_acc, abs=1 / len(x))
        # The stored predictions are what the accuracy counted (up to float rounding's ties).
        assert predicted.shape == (1, len(x)) and predicted.dtype == torch.uint8
        assert (predicted[0].long() == logits.argmax(1)).float().mean() > 1 - 2 / len(x)
        assert (predicted[0].long() == y).sum().item() == round(got_acc * len(x))
    assert model.training  # evaluation restores train mode


def test_a_resumed_momentum_run_equals_an_uninterrupted_one(tmp_path):
    """The optimizer's momentum buffers go through a mid-epoch checkpoint and come back."""
    g = torch.Generator().manual_seed(0)
    data = {"train_x": torch.randint(0, 256, (120, 12), generator=g, dtype=torch.uint8),
            "train_y": torch.randint(0, 3, (120,), generator=g),
            "test_x": torch.randint(0, 256, (30, 12), generator=g, dtype=torch.uint8),
            "test_y": torch.randint(0, 3, (30,), generator=g), "scale": 1 / 255, "classes": 3}
    setting = hp(hidden=[8], batch_size=16, epochs=3, eval_every=4, momentum=0.9, weight_decay=1e-3,
                 checkpoint_every=5)  # 8 steps an epoch: checkpoints at steps 5, 10, 15, 20
    quiet = lambda _: None  # noqa: E731
    whole = train_seed(setting, data, 0, torch.device("cpu"), log=quiet).rows

    class Killed(Exception):
        pass

    def die_after_second_epoch(line):
        if line.startswith("epoch 2/3 done"):
            raise Killed

    checkpoint = tmp_path / "ckpt.pt"
    with pytest.raises(Killed):
        train_seed(setting, data, 0, torch.device("cpu"), checkpoint=checkpoint, log=die_after_second_epoch)
    resumed = train_seed(setting, data, 0, torch.device("cpu"), checkpoint=checkpoint, log=quiet)
    assert resumed.resumed_from_step == 15  # in the middle of the second epoch
    assert resumed.rows == whole


PROBE = textwrap.dedent("""
    import json, resource, sys
    sys.path.insert(0, {scripts!r})
    import torch
    torch.set_num_threads(1)
    from mlpstudy.config import hparam_defaults
    from mlpstudy.training import train_seed
    g = torch.Generator().manual_seed(0)
    # MNIST-sized: 60,000 + 10,000 images of 784 pixels, the base MLP, two full evaluations.
    data = {{"train_x": torch.randint(0, 256, (60000, 784), generator=g, dtype=torch.uint8),
             "train_y": torch.randint(0, 10, (60000,), generator=g),
             "test_x": torch.randint(0, 256, (10000, 784), generator=g, dtype=torch.uint8),
             "test_y": torch.randint(0, 10, (10000,), generator=g), "scale": 1 / 255, "classes": 10}}
    hp = {{**hparam_defaults(), "max_steps": 20}}
    result = train_seed(hp, data, 0, torch.device("cpu"), log=lambda _: None)
    print(json.dumps({{"steps": result.steps, "dynamo": "torch._dynamo" in sys.modules,
                      "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
""")


def test_a_training_job_on_mnist_sized_data_stays_under_1_gib_without_dynamo():
    out = subprocess.run([sys.executable, "-c", PROBE.format(scripts=str(REPO / "workflow" / "scripts"))],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe["steps"] == 20
    assert not probe["dynamo"], "training imported torch._dynamo (about 160 MB and 1.5 s per job)"
    assert probe["max_rss"] < 2 ** 30, f"peak memory {probe['max_rss'] / 2 ** 20:.0f} MiB"


@pytest.mark.parametrize("changes", [{}, {"activation": "gelu"}, {"activation": "maxout"},
                                     {"batch_norm": True, "dropout": 0.2}, {"hidden": [64, 32]}])
def test_inference_forward_computes_the_models_eval_forward(changes):
    from mlpstudy.evaluation import inference_forward
    torch.manual_seed(2)
    model = build_mlp(hp(**{"hidden": [48], **changes}), 30, 5)
    model(torch.rand(64, 30)).sum().backward()  # batch-norm statistics move off their defaults
    model.eval()
    x = torch.rand(300, 30)
    with torch.inference_mode():
        expected, got = model(x), inference_forward(model, x.device, 128)(x)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_cpu_evaluation_chunks_keep_the_widest_layers_output_within_the_cache_budget():
    from mlpstudy.evaluation import CPU_EVAL_BYTES, EVAL_CHUNK, eval_chunk
    cpu = torch.device("cpu")
    assert eval_chunk(cpu, 256) == eval_chunk(cpu, 784) == EVAL_CHUNK["cpu"]
    assert eval_chunk(cpu, 2048) == EVAL_CHUNK["cpu"] // 2  # hidden_2048: 16 MiB a chunk
    for width in (10, 512, 784, 1024, 2048, 4096, 10_000):
        assert eval_chunk(cpu, width) * width * 4 <= max(CPU_EVAL_BYTES, 256 * width * 4)
    assert eval_chunk(torch.device("cuda"), 2048) == EVAL_CHUNK["cuda"]


FAULTS_PROBE = textwrap.dedent("""
    import resource, statistics, sys, torch
    sys.path.insert(0, {scripts!r})
    from mlpstudy.config import hparam_defaults
    from mlpstudy.models import build_mlp
    from mlpstudy.objective import criterion
    from mlpstudy.evaluation import evaluate_module, keep_freed_memory
    kept = keep_freed_memory() if sys.argv[1] == "keep" else None
    hp = {{**hparam_defaults(), "activation": sys.argv[2]}}
    model, loss = build_mlp(hp, 784, 10), criterion(hp, 10)
    x, y = torch.rand(8192, 784), torch.randint(0, 10, (8192,))
    evaluate_module(model, x, y, loss)
    faults = []
    for _ in range(9):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        evaluate_module(model, x, y, loss)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(kept, statistics.median(faults), *faults)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
@pytest.mark.parametrize("activation", ["gelu", "maxout"])
def test_kept_freed_memory_spares_evaluation_chunks_their_page_faults(activation):
    def page_faults(mode):
        out = subprocess.run([sys.executable, "-c", FAULTS_PROBE.format(
            scripts=str(REPO / "workflow" / "scripts")), mode, activation],
            capture_output=True, text=True, timeout=120, check=True).stdout.split()
        return out[0], float(out[1]), out[2:]
    (_, freed, freed_each), (kept, faults, kept_each) = page_faults("free"), page_faults("keep")
    print(f"{activation}: page faults per evaluation, freed memory handed back: {freed_each}; "
          f"kept: {kept_each}")
    assert kept == "True"
    # Two 4096-row chunks an evaluation, two or three 4-8 MiB tensors each: without the
    # setting every evaluation faults them in anew (measured: GELU ~3.6k faults, Maxout
    # ~8k), with it none. The median of 9 evaluations is the steady state: the heap grows
    # (a 4 MiB tensor's 1024 pages, once or twice) in one or two of them, not in most.
    assert freed > 1000, "glibc handed nothing back: this probe no longer shows the cost"
    assert faults < freed / 10
