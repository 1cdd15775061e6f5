"""A 30-layer tanh network with PyTorch's default initialization, on the digits data: diagnosed.

    practicaldl diagnose --torch examples/torch_deep_tanh.py --plot deep_tanh.png
    python examples/torch_deep_tanh.py

``nn.Linear`` draws its weights from U(-1/sqrt(fan_in), 1/sqrt(fan_in)): a standard deviation of
1/sqrt(3 fan_in), 0.58x the LeCun scale that keeps tanh's signal constant. Each layer multiplies
the backpropagated gradient by about 0.58, so after 30 layers the first layers get a gradient
about 1e-7 of the last ones': the diagnosis reports vanishing gradients and names the layer, and
suggests LeCun initialization (``nn.init.kaiming_normal_(layer.weight, nonlinearity='linear')``).
"""

import torch
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler
from torch import nn

torch.manual_seed(0)
X, y = load_digits(return_X_y=True)
inputs = torch.tensor(StandardScaler().fit_transform(X)[:256], dtype=torch.float32)  # (256, 64)
targets = torch.tensor(y[:256])                                                      # (256,) digits 0-9

layers = [nn.Linear(64, 32), nn.Tanh()]
for _ in range(28):
    layers += [nn.Linear(32, 32), nn.Tanh()]
model = nn.Sequential(*layers, nn.Linear(32, 10))  # 30 layers
loss_fn = nn.CrossEntropyLoss()

if __name__ == "__main__":
    from rich import print as rich_print

    from practicaldl import torch as pdt

    rich_print(pdt.diagnose_module(model, inputs, targets, loss_fn=loss_fn))
