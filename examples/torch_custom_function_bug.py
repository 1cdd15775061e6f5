"""A custom ``torch.autograd.Function`` with a planted bug, and the check that names it.

``ScaledLinear`` computes ``y = x W^T / sqrt(fan_in) + b`` (a linear layer whose scale is in the
function rather than in the weights). Its backward scales the input's gradient but forgets the
scale in the weight's gradient: ``dW = dy^T x`` where it should be ``dy^T x / sqrt(fan_in)``.
Training would still run, only with a learning rate 4x too large for that one weight.

    practicaldl gradcheck --torch examples/torch_custom_function_bug.py   # exit 1: "bug" on 2.weight
    python examples/torch_custom_function_bug.py

The report names ``2.weight``, the parameter the wrong gradient feeds; ``2.bias`` and the layer
before it (``0.weight``, ``0.bias``, whose gradients flow through the correct input gradient) are right.
"""

import math

import torch
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler
from torch import nn


class ScaledLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, scale):
        ctx.save_for_backward(x, weight)
        ctx.scale = scale
        return x @ weight.t() * scale + bias

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_x = grad_out @ weight * ctx.scale
        grad_weight = grad_out.t() @ x  # planted bug: the factor ctx.scale is missing
        grad_bias = grad_out.sum(0)
        return grad_x, grad_weight, grad_bias, None


class ScaledLinear(nn.Module):
    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in))
        self.bias = nn.Parameter(torch.zeros(fan_out))
        self.scale = 1.0 / math.sqrt(fan_in)

    def forward(self, x):
        return ScaledLinearFunction.apply(x, self.weight, self.bias, self.scale)


torch.manual_seed(0)
X, y = load_wine(return_X_y=True)
inputs = torch.tensor(StandardScaler().fit_transform(X)[::6], dtype=torch.float32)  # (30, 13)
targets = torch.tensor(y[::6])                                                      # (30,) class labels

model = nn.Sequential(nn.Linear(13, 16), nn.Tanh(), ScaledLinear(16, 3))
loss_fn = nn.CrossEntropyLoss()

if __name__ == "__main__":
    from practicaldl import torch as pdt

    print(pdt.check_module(model, loss_fn, inputs, targets))
