"""practicaldl.torch: gradient checks by parameter name, diagnosis through hooks, the training monitor, --torch.

Skipped without PyTorch (CI installs torch==2.13.0, the ``torch`` extra).
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is absent: pip install 'practicaldl[torch]'")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import practicaldl as pdl  # noqa: E402
from practicaldl import torch as pdt  # noqa: E402
from practicaldl.cli import app  # noqa: E402
from practicaldl.diagnostics import THRESHOLDS  # noqa: E402
from practicaldl.diagnostics.plots import plot_activation_histograms, plot_training_diagnostics  # noqa: E402
from practicaldl.gradcheck import directional_budget  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def mlp(sizes, act=nn.ReLU, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def batch(n_in=4, n_classes=3, m=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(m, n_in, generator=g), torch.randint(0, n_classes, (m,), generator=g)


# -- check_module: correct models pass ----------------------------------------------------------------
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("method", ["loop", "directional"])
def test_correct_sequential_passes_with_and_without_dropout(dropout, method):
    model = mlp([4, 8, 6, 3], act=nn.Tanh, dropout=dropout).train()
    x, y = batch()
    report = pdt.check_module(model, nn.CrossEntropyLoss(), x, y, method=method)
    assert report.passed, str(report)
    assert report.method == method
    linears = ["0", "3", "6"] if dropout else ["0", "2", "4"]  # Linear, Tanh, (Dropout,) Linear, ...
    assert list(report.per_parameter) == [f"{i}.{kind}" for i in linears for kind in ("weight", "bias")]
    if method == "loop":
        first = report.per_parameter[list(report.per_parameter)[0]]
        assert first.shape == (8, 4) and first.n_entries == 32 and first.worst


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_in_either_mode_passes(training):
    """Training mode normalises by the batch's statistics (and updates the copy's running ones, unused
    there); evaluation mode by the running statistics: either way one fixed function of the parameters."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
    x, y = batch()
    running = model[1].running_mean.clone()
    report = pdt.check_module(model.train(training), nn.CrossEntropyLoss(), x, y)
    assert report.passed and "1.weight" in report.per_parameter
    assert torch.equal(model[1].running_mean, running)


def test_dropout_draws_the_same_masks_in_every_evaluation(monkeypatch):
    """Half the units dropped: the check passes because every evaluation sees the masks of the analytic
    pass. Fresh masks per evaluation (pytorch/pytorch#114333) make the centred differences garbage."""
    model = mlp([4, 32, 3], dropout=0.5).train()
    x, y = batch()
    values = []
    report = pdt.check_module(model, nn.CrossEntropyLoss(), x, y, progress=values.append)
    assert report.passed and report.raw_difference < 1e-7
    assert values == list(range(1, report.n_evaluations + 1))

    from contextlib import contextmanager

    from practicaldl.torch import check as check_module_source

    real = check_module_source.replayable_rng

    @contextmanager
    def never_replayed(device):
        with real(device) as replay:
            replay()
            yield lambda: None

    monkeypatch.setattr(check_module_source, "replayable_rng", never_replayed)
    drifting = pdt.check_module(model, nn.CrossEntropyLoss(), x, y)
    assert drifting.raw_difference > 0.5


def test_the_users_model_and_generators_are_left_as_they_were():
    model = mlp([4, 8, 3], dropout=0.2)
    model[0].bias.requires_grad_(False)  # a frozen parameter
    x, y = batch()
    nn.CrossEntropyLoss()(model(x), y).backward()  # stale gradients the check must neither use nor change
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    x_before, state = x.clone(), torch.get_rng_state()
    for training in (True, False):
        model.train(training)
        report = pdt.check_module(model, nn.CrossEntropyLoss(), x, y)
        assert report.passed, str(report)
        assert "0.bias" not in report.per_parameter and any("frozen" in n and "0.bias" in n for n in report.notes)
        assert model.training is training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.dtype == torch.float32 for p in model.parameters())
    for n, p in model.named_parameters():
        assert (p.grad is None and grads[n] is None) or torch.equal(p.grad, grads[n])
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(x, x_before)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


# -- check_module: planted bugs in custom autograd Functions ---------------------------------------
class Linear(torch.autograd.Function):
    """y = x W^T + b with a backward that can carry one planted bug (a string, or None)."""

    @staticmethod
    def forward(ctx, x, weight, bias, bug):
        ctx.save_for_backward(x, weight)
        ctx.bug = bug
        return x @ weight.t() + bias

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        grad_x, grad_w, grad_b = g @ weight, g.t() @ x, g.sum(0)
        if ctx.bug == "factor":
            grad_w = 1.5 * grad_w
        elif ctx.bug == "transposed":
            grad_w = grad_w.t()  # square weight: the same shape, the wrong entries
        elif ctx.bug == "no bias gradient":
            grad_b = None
        elif ctx.bug == "wrong shape":
            grad_w = grad_w[:, :-1]
        return grad_x, grad_w, grad_b, None


class CustomLinear(nn.Module):
    def __init__(self, n_in, n_out, bug=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / math.sqrt(n_in))
        self.bias = nn.Parameter(0.1 * torch.randn(n_out))
        self.bug = bug

    def forward(self, x):
        return Linear.apply(x, self.weight, self.bias, self.bug)


class TwoLayer(nn.Module):
    def __init__(self, bug=None):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(4, 6)
        self.fc2 = CustomLinear(6, 6, bug)  # square: a transposed gradient keeps its shape
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        return self.out(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


def test_a_correct_custom_function_passes():
    x, y = batch()
    assert pdt.check_module(TwoLayer(), nn.CrossEntropyLoss(), x, y).passed


@pytest.mark.parametrize("bug, named", [("factor", "fc2.weight"), ("transposed", "fc2.weight"),
                                        ("no bias gradient", "fc2.bias")])
@pytest.mark.parametrize("method", ["loop", "directional"])
def test_planted_bugs_in_a_custom_function_fail_and_are_named(bug, named, method):
    x, y = batch()
    report = pdt.check_module(TwoLayer(bug), nn.CrossEntropyLoss(), x, y, method=method)
    assert not report.passed
    assert report.failing == [named], str(report)
    assert report.per_parameter[named].verdict == "bug"
    assert all(p.verdict == "right" for name, p in report.per_parameter.items() if name != named)
    if bug == "no bias gradient":
        assert any("no gradient reached fc2.bias" in n for n in report.notes)
    if bug == "factor" and method == "loop":
        # 1.5 g against g: |0.5 g| / (1.5 |g| + |g|) = 0.2, whatever g
        assert report.per_parameter[named].difference == pytest.approx(0.2, rel=1e-6)
        w = report.per_parameter[named].worst[0]
        assert w.analytic == pytest.approx(1.5 * w.numerical, rel=1e-6)


@pytest.mark.parametrize("epsilon", [1e-7, 1e-6])
def test_directional_names_a_bug_in_a_100k_parameter_model(epsilon):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.2), ScaledGradientLinear(nn.Linear(128, 10)))
    x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))
    report = pdt.check_module(model.train(), nn.CrossEntropyLoss(), x, y, method="directional", epsilon=epsilon)
    assert sum(p.numel() for p in model.parameters()) == 101_770
    # the budget, plus the failing parameter's second look (the noise at its step, 24; three steps and a probe
    # on its 2 directions, up to 24) and the confirmation of directions whose one-sided differences disagree
    assert report.n_evaluations <= directional_budget(4) + 24 + 24 + 2 * 12
    assert report.failing == ["3.weight"] and report.per_parameter["3.weight"].verdict == "bug"


def test_a_backward_that_raises_is_a_backward_error():
    x, y = batch()
    with pytest.raises(pdt.BackwardError, match="loss.backward\\(\\) failed"):
        pdt.check_module(TwoLayer("wrong shape"), nn.CrossEntropyLoss(), x, y)


# -- check_module: the same numbers as practicaldl's NumPy check --------------------------------------
def _mirror(params):
    """practicaldl's [n_x, ..., 1] tanh / sigmoid network as nn.Sequential (Linear weights are W_l)."""
    L = len(params) // 2
    layers = []
    for l in range(1, L + 1):
        lin = nn.Linear(params[f"W{l}"].shape[1], params[f"W{l}"].shape[0], dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[f"W{l}"]))
            lin.bias.copy_(torch.from_numpy(params[f"b{l}"][:, 0]))
        layers += [lin, nn.Tanh()] if l < L else [lin]
    return nn.Sequential(*layers)


class ScaleGradient(torch.autograd.Function):
    """The identity, with a backward that multiplies the gradient by 1.5 (a planted bug)."""

    @staticmethod
    def forward(ctx, w):
        return w.view_as(w)

    @staticmethod
    def backward(ctx, g):
        return 1.5 * g


class ScaledGradientLinear(nn.Linear):
    def __init__(self, linear):
        super().__init__(linear.in_features, linear.out_features, dtype=linear.weight.dtype)
        self.load_state_dict(linear.state_dict())

    def forward(self, x):
        return F.linear(x, ScaleGradient.apply(self.weight), self.bias)


@pytest.mark.parametrize("planted", [None, "W2"])
def test_numbers_equal_the_numpy_check_on_the_same_weights(planted):
    rng = np.random.RandomState(2)
    params = pdl.initialize_parameters([5, 4, 3, 1], init="xavier", rng=rng)
    X, Y = rng.standard_normal((5, 12)), (rng.uniform(size=(1, 12)) > 0.5).astype(float)

    def cost(p):
        _, cache = pdl.forward_propagation(p, X, activation="tanh")
        return pdl.compute_cost(cache, Y)

    _, grads = pdl.cost_and_gradients(params, X, Y, activation="tanh")
    model = _mirror(params)
    names = {f"{2 * (l - 1)}.{kind}": f"{'W' if kind == 'weight' else 'b'}{l}"
             for l in range(1, 4) for kind in ("weight", "bias")}
    loss_fn = nn.BCEWithLogitsLoss()
    if planted:  # the same 1.5 factor on dW2 in both; in torch, a custom Function between W2 and its use
        grads["dW2"] = 1.5 * grads["dW2"]
        model[2] = ScaledGradientLinear(model[2])
    expected = pdl.gradient_check(cost, params, grads, epsilon=1e-6, n_worst=20)
    report = pdt.check_module(model, loss_fn, torch.from_numpy(X.T), torch.from_numpy(Y.T), n_worst=20)
    assert report.passed == expected.passed and report.verdict == expected.verdict
    assert report.cost == pytest.approx(expected.cost, rel=1e-14)
    assert report.difference == pytest.approx(expected.difference, rel=1e-4, abs=1e-9)
    for name, key in names.items():
        ours, theirs = report.per_parameter[name], expected.per_parameter[key]
        assert ours.verdict == theirs.verdict
        assert ours.difference == pytest.approx(theirs.difference, rel=1e-4, abs=1e-9)
        entries = {tuple(e.index): e for e in theirs.worst}
        for e in ours.worst:  # every entry: torch's index (i,) for a bias is practicaldl's (i, 0)
            t = entries[tuple(e.index) + ((0,) if len(e.index) == 1 else ())]
            assert e.analytic == pytest.approx(t.analytic, rel=1e-12, abs=1e-15)
            assert e.numerical == pytest.approx(t.numerical, rel=1e-6, abs=1e-9)  # rounding: ~1e-16 J / epsilon
    if planted:
        assert report.failing == ["2.weight"] and expected.failing == ["W2"]
        assert report.per_parameter["2.weight"].difference == pytest.approx(0.2, rel=1e-6)


# -- check_module: input validation ---------------------------------------------------------------------
def test_bad_arguments_name_the_argument_and_leave_the_model_alone():
    model, (x, y) = mlp([4, 5, 3]), batch()
    cases = [
        (dict(model=[1]), "model must be a torch.nn.Module, got list"),
        (dict(loss_fn=3), "loss_fn must be callable"),
        (dict(method="fast"), "method must be one of ['directional', 'loop'], got 'fast'"),
        (dict(epsilon=-1.0), "epsilon"),
        (dict(inputs=[1, 2]), "inputs must be a tensor"),
        (dict(loss_fn=lambda out, t: F.cross_entropy(out, t, reduction="none")), "reduce the loss"),
        (dict(loss_fn=lambda out, t: 1.0), "loss_fn must return a scalar tensor"),
        (dict(loss_fn=lambda out, t: F.cross_entropy(out.detach(), t)), "does not depend on any trainable"),
        (dict(inputs=torch.randn(16, 7)), "model\\(inputs\\) failed"),
        (dict(parameters=["0.weight", "9.bias"]), "parameters must name trainable parameters"),
    ]
    for change, message in cases:
        kwargs = dict(model=model, loss_fn=nn.CrossEntropyLoss(), inputs=x, targets=y, **{})
        kwargs.update(change)
        with pytest.raises(ValueError, match=message.replace("[", "\\[").replace("]", "\\]")
                           if "(" not in message else message):
            pdt.check_module(**kwargs)
    frozen = mlp([4, 3]).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        pdt.check_module(frozen, nn.CrossEntropyLoss(), x, y)


def test_parameters_selects_what_is_checked():
    x, y = batch()
    report = pdt.check_module(TwoLayer("factor"), nn.CrossEntropyLoss(), x, y, parameters=["fc1.weight", "out.bias"])
    assert list(report.per_parameter) == ["fc1.weight", "out.bias"] and report.passed
    # every entry twice, J(theta), the noise (24), and each entry whose one-sided differences disagree
    # (curvature, here) once more at half the step
    assert 2 * (24 + 3) + 1 + 24 <= report.n_evaluations <= 2 * 2 * (24 + 3) + 1 + 24


def test_loss_with_float32_state_and_dict_inputs():
    """A loss module with class weights (float32 state) is cast with the model; dict inputs are model(**inputs)."""
    class Keyword(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, features, scale):
            return self.fc(features) * scale

    x, y = batch()
    report = pdt.check_module(Keyword(), nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5])),
                              {"features": x, "scale": torch.tensor(2.0)}, y)
    assert report.passed and list(report.per_parameter) == ["fc.weight", "fc.bias"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_cuda_model_is_checked_on_its_device():
    model = mlp([4, 16, 3], dropout=0.3).cuda().train()
    x, y = batch()
    state = torch.cuda.get_rng_state()
    assert pdt.check_module(model, nn.CrossEntropyLoss(), x.cuda(), y.cuda()).passed
    assert torch.equal(torch.cuda.get_rng_state(), state)
    report = pdt.check_module(TwoLayer("factor").cuda(), nn.CrossEntropyLoss(), x.cuda(), y.cuda())
    assert report.failing == ["fc2.weight"]


# -- diagnose_module --------------------------------------------------------------------------------
def deep(n_layers, width, act, init=None, n_in=10, n_out=2, seed=0):
    torch.manual_seed(seed)
    layers, fan_in = [], n_in
    for _ in range(n_layers - 1):
        lin = nn.Linear(fan_in, width)
        if init is not None:
            init(lin)
        layers += [lin, act()]
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, n_out))


def kinds(report, severity="warning"):
    return report.kinds(severity)


def test_zero_initialised_linear_layers_give_the_symmetry_finding():
    model = deep(4, 8, nn.Tanh, init=lambda lin: (nn.init.zeros_(lin.weight), nn.init.zeros_(lin.bias)))
    nn.init.zeros_(model[-1].weight)
    x, y = batch(n_in=10, n_classes=2)
    report = pdt.diagnose_module(model, x, y)
    sym = [f for f in report.findings if f.kind == "symmetry"]
    assert [f.layer for f in sym] == [1, 2, 3] and all(f.severity == "error" and f.value == 8 for f in sym)
    assert "layer 1 (Linear '0') has 8 identical units" in sym[0].message
    assert "kaiming_normal_" in sym[0].suggestion or "xavier" in sym[0].suggestion
    # one random unit in layer 2 breaks the symmetry of that unit only: 7 identical units remain
    with torch.no_grad():
        model[2].weight[3].normal_()
    report = pdt.diagnose_module(model, x, y)
    assert {f.layer: f.value for f in report.findings if f.kind == "symmetry"}[2] == 7


def test_a_large_negative_bias_gives_dead_units():
    model = deep(3, 10, nn.ReLU, init=lambda lin: nn.init.kaiming_normal_(lin.weight, nonlinearity="relu"))
    with torch.no_grad():
        model[2].bias[:7] = -100.0  # 7 of layer 2's 10 units never positive
    x, _ = batch(n_in=10)
    report = pdt.diagnose_module(model, x)
    dead = [f for f in report.findings if f.kind == "dead_units"]
    assert [(f.layer, f.severity, f.value) for f in dead] == [(2, "warning", 0.7)]
    assert "layer 2 (Linear '2') has 7 of 10 units" in dead[0].message
    assert report.layers[1]["dead_fraction"] == 0.7 and report.layers[0]["dead_fraction"] < 0.25


def test_thirty_tanh_layers_with_unit_weights_saturate():
    model = deep(30, 32, nn.Tanh, init=lambda lin: (nn.init.normal_(lin.weight), nn.init.zeros_(lin.bias)))
    x, y = batch(n_in=10, n_classes=2, m=64)
    report = pdt.diagnose_module(model, x, y)
    saturated = [f for f in report.findings if f.kind == "saturation" and f.severity == "warning"]
    assert len(saturated) >= 25 and all(f.value > THRESHOLDS["saturated_fraction"] for f in saturated)
    assert "init_scale" in kinds(report)  # N(0, 1) is sqrt(fan_in) = 5.7x the LeCun scale
    assert not report.healthy


def test_thirty_tanh_layers_with_tiny_weights_vanish():
    model = deep(30, 32, nn.Tanh, init=lambda lin: (nn.init.normal_(lin.weight, std=0.01), nn.init.zeros_(lin.bias)))
    x, y = batch(n_in=10, n_classes=2, m=64)
    report = pdt.diagnose_module(model, x, y)
    vanishing = [f for f in report.findings if f.kind == "vanishing" and f.severity == "warning"]
    gradient = [f for f in vanishing if f.layer is not None]
    assert gradient and gradient[0].value < THRESHOLDS["gradient_vanishing"]
    assert "weight.grad" in gradient[0].message
    assert any(f.layer is None for f in vanishing)  # the activations shrink too


@pytest.mark.parametrize("seed, sizes", [(0, (3, 32)), (1, (5, 64)), (2, (8, 48))])
def test_a_he_initialised_relu_network_is_healthy(seed, sizes):
    n_layers, width = sizes
    model = deep(n_layers, width, nn.ReLU, seed=seed,
                 init=lambda lin: (nn.init.kaiming_normal_(lin.weight, nonlinearity="relu"), nn.init.zeros_(lin.bias)))
    x, y = batch(n_in=10, n_classes=2, m=128, seed=seed)
    report = pdt.diagnose_module(model, x, y)
    assert report.healthy, [f.message for f in report.findings]
    assert all(0.5 < s["init_ratio"] < 2 for s in report.layers[:-1])


def test_functional_activations_are_recognised():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(10, 16), nn.Linear(16, 16), nn.Linear(16, 2)
            with torch.no_grad():
                self.fc2.bias.fill_(-50.0)

        def forward(self, x):
            return self.fc3(torch.tanh(self.fc2(F.relu(self.fc1(x)))))

    x, _ = batch(n_in=10)
    report = pdt.diagnose_module(Net(), x)
    assert [s["activation"] for s in report.layers] == ["relu", "tanh", "linear"]
    assert [s["name"] for s in report.layers] == ["fc1", "fc2", "fc3"]
    assert report.layers[1]["saturated_fraction"] == 1.0  # tanh(-50 + ...) = -1 everywhere
    assert "saturation" in kinds(report)


def test_a_conv_net_is_diagnosed_by_channel():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 3))
    for m in model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    report = pdt.diagnose_module(model, x, y)
    assert [s["n_units"] for s in report.layers] == [8, 8, 3] and report.layer_dims == [1, 8, 8, 3]
    assert report.layers[0]["fan_in"] == 9 and report.healthy, [f.message for f in report.findings]
    with torch.no_grad():  # zero the second convolution and the Linear after it: its 8 channels are identical
        for m in (model[2], model[5]):
            m.weight.zero_()
            m.bias.zero_()
    report = pdt.diagnose_module(model, x, y)
    sym = [f for f in report.findings if f.kind == "symmetry"]
    assert [(f.layer, f.value) for f in sym] == [(2, 8)]  # outgoing: the Linear's 16 columns per channel
    with torch.no_grad():
        model[5].weight[:, 16:32].normal_()  # channel 1's outgoing weights (after Flatten) differ
    sym = [f for f in pdt.diagnose_module(model, x, y).findings if f.kind == "symmetry"]
    assert [(f.layer, f.value) for f in sym] == [(2, 7)]


def test_the_report_has_diagnose_s_shape_and_draws(tmp_path):
    model = deep(4, 8, nn.Tanh)
    x, y = batch(n_in=10, n_classes=2)
    report = pdt.diagnose_module(model, x, y)
    ours = report.to_dict()
    numpy_report = pdl.diagnose(pdl.initialize_parameters([10, 8, 8, 8, 2], init="xavier",
                                                          rng=np.random.RandomState(0)), x.numpy().T)
    theirs = numpy_report.to_dict()
    assert set(theirs) <= set(ours) and set(theirs["layers"][0]) <= set(ours["layers"][0])
    json.dumps(ours, allow_nan=False)
    assert ours["layers"][-1]["activation"] == "softmax"  # logits into the cross-entropy
    assert any("F.cross_entropy" in n for n in ours["notes"])
    path = plot_activation_histograms(report, tmp_path / "acts.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diagnose_leaves_the_model_alone():
    model = mlp([4, 8, 3], dropout=0.5)
    model.add_module("bn", nn.BatchNorm1d(3))
    x, y = batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.get_rng_state()
    pdt.diagnose_module(model, x, y)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats too
    assert all(p.grad is None for p in model.parameters()) and torch.equal(torch.get_rng_state(), state)
    assert not any(m._forward_hooks for m in model.modules())


def test_diagnose_with_a_loss_of_the_output_alone():
    model = deep(3, 8, nn.Tanh)
    x, _ = batch(n_in=10)
    without = pdt.diagnose_module(model, x)
    assert not without.gradients and all(s["grad_norm"] is None for s in without.layers)
    report = pdt.diagnose_module(model, x, loss_fn=lambda out: out.square().mean())
    assert report.gradients and all(s["grad_norm"] > 0 and s["dz_rms"] > 0 for s in report.layers)


def test_diagnose_validation():
    x, _ = batch()
    with pytest.raises(ValueError, match="no Linear or Conv layer"):
        pdt.diagnose_module(nn.Sequential(nn.ReLU()), x)
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        pdt.diagnose_module("net", x)


# -- TrainingMonitor --------------------------------------------------------------------------------
def _train(monitor_every=None, lr=0.05, steps=12, bias=None):
    model = mlp([4, 16, 16, 3], dropout=0.2)
    if bias is not None:
        with torch.no_grad():
            model[3].bias.fill_(bias)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x, y = batch(m=64)
    monitor = pdt.TrainingMonitor(model, every=monitor_every) if monitor_every else None
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.eval()
            model(x)  # an evaluation pass: not counted
            model.train()
        if monitor:
            monitor.step(loss=loss.item())
    return model, monitor


def test_monitor_changes_nothing_and_measures_the_step_taken():
    plain, _ = _train()
    model, monitor = _train(monitor_every=4)
    assert all(torch.equal(p, q) for p, q in zip(plain.parameters(), model.parameters()))
    assert [r["iteration"] for r in monitor.records] == [4, 8, 12]
    rec = monitor.records[-1]
    assert rec["layers"] == ["0", "3", "6"] and rec["cost"] > 0
    # plain SGD: ||W_t - W_{t-1}|| = lr ||grad||, so ratio = lr ||grad|| / ||W_{t-1}||, and ||W_{t-1}||
    # is within ||W_t - W_{t-1}|| of ||W_t||: ratio ||W_t|| / (lr ||grad||) is within ratio of 1
    for l in range(3):
        ratio = rec["update_ratio"][l]
        assert ratio * rec["weight_norm"][l] / (0.05 * rec["grad_norm"][l]) == pytest.approx(1, abs=ratio + 1e-4)
    assert rec["dead_fraction"][2] is None and all(0 <= v < 0.5 for v in rec["dead_fraction"][:2])
    assert rec["saturated_fraction"] == [None, None, None]
    json.dumps(monitor.records, allow_nan=False)
    monitor.close()
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_monitor_findings_flag_large_steps_and_dead_units(tmp_path):
    _, monitor = _train(monitor_every=1, lr=50.0, steps=3)
    big = [f for f in monitor.findings() if f.kind == "update_ratio"]
    assert big and big[0].severity == "warning" and ".weight by" in big[0].message
    _, monitor = _train(monitor_every=2, steps=4, bias=-100.0)
    dead = [f for f in monitor.findings() if f.kind == "dead_units"]
    assert [(f.layer, f.value) for f in dead] == [(2, 1.0)] and "layer 2 (3)" in dead[0].message
    path = plot_training_diagnostics(monitor.records, tmp_path / "train.png")
    assert path.stat().st_size > 0


def test_monitor_validation():
    with pytest.raises(ValueError, match="every must be a non-negative integer"):
        pdt.TrainingMonitor(mlp([2, 2]), every=-1)
    with pytest.raises(ValueError, match="no Linear or Conv layer"):
        pdt.TrainingMonitor(nn.ReLU())


# -- the command line ---------------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_cli_gradcheck_examples(cli):
    ok = cli("gradcheck", "--torch", EXAMPLES / "torch_mlp_dropout.py", "--json", "--quiet")
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["passed"] and doc["epsilon"] == 1e-6 and doc["source"]["method"] == "loop"
    assert "0.weight" in doc["per_parameter"]
    bug = cli("gradcheck", "--torch", EXAMPLES / "torch_custom_function_bug.py")
    assert bug.exit_code == 1
    assert "2.weight" in bug.stdout and "Gradient check failed: bug: 2.weight" in bug.stderr
    directional = cli("gradcheck", "--torch", EXAMPLES / "torch_custom_function_bug.py", "--method", "directional",
                      "--epsilon", "1e-7", "--json")
    doc = json.loads(directional.stdout)
    assert directional.exit_code == 1 and doc["failing"] == ["2.weight"] and doc["epsilon"] == 1e-7


def test_cli_diagnose_example(cli, tmp_path):
    result = cli("diagnose", "--torch", EXAMPLES / "torch_deep_tanh.py", "--plot", "tanh.png", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["layers"]) == 30 and any(f["kind"] == "vanishing" for f in doc["findings"])
    assert (tmp_path / "tanh.png").stat().st_size > 0


def test_cli_diagnose_error_finding_exits_1(cli, tmp_path):
    (tmp_path / "zeros.py").write_text(
        "import torch\nfrom torch import nn\nmodel = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))\n"
        "for m in model[::2]:\n    nn.init.zeros_(m.weight)\n    nn.init.zeros_(m.bias)\ninputs = torch.randn(8, 3)\n")
    result = cli("diagnose", "--torch", "zeros.py")
    assert result.exit_code == 1 and "symmetry" in result.stderr


@pytest.mark.parametrize("text, args, needle", [
    (None, ["gradcheck", "--torch", "absent.py"], "the file 'absent.py' does not exist"),
    ("import torch\nmodel = torch.nn.Linear(2, 1)\ninputs = torch.randn(3, 2)\ntargets = None\n",
     ["gradcheck", "--torch", "f.py"], "f.py must define 'loss_fn': loss_fn(model(inputs), targets)"),
    ("import torch\nmodel = torch.nn.Linear(2, 1)\n", ["diagnose", "--torch", "f.py"], "f.py must define 'inputs'"),
    ("model = 3\ninputs = None\n", ["diagnose", "--torch", "f.py"], "'model' must be a torch.nn.Module, got int"),
    ("import torch\nmodel = torch.nn.Linear(2, 1)\ninputs = 'x'\n", ["diagnose", "--torch", "f.py"],
     "f.py: inputs must be a tensor"),
    ("raise RuntimeError('no data here')\n", ["diagnose", "--torch", "f.py"],
     "f.py raised RuntimeError while being loaded: no data here"),
    ("import torch\nmodel = torch.nn.Linear(2, 1)\ninputs = torch.randn(3, 5)\n", ["diagnose", "--torch", "f.py"],
     "model(inputs) failed"),
    ("", ["gradcheck", "--torch", "f.py", "--hidden", "3"], "--hidden does not apply with --torch"),
    ("", ["gradcheck", "--torch", "f.py", "--method", "fast"], "--method: it must be one of ['directional', 'loop']"),
    (None, ["gradcheck", "--method", "fast"], "--method: it must be one of ['structured', 'loop', 'directional']"),
    (None, ["diagnose", "--torch", "f.py", "--plot", "x.pdf"], "--plot: it must end in .png"),
])
def test_cli_bad_torch_files_exit_2_with_one_line(cli, tmp_path, text, args, needle):
    if text is not None:
        (tmp_path / "f.py").write_text(text)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_cli_help_documents_the_file_names(cli):
    for command in ("gradcheck", "diagnose"):
        text = cli(command, "--help").stdout
        assert "--torch" in text and "TORCH FILES" in text
        for name in ("model", "inputs", "targets", "loss_fn"):
            assert f"{name}:" in text
