"""A PyTorch MLP with dropout, in training mode, on the iris data: its gradients pass the check.

    practicaldl gradcheck --torch examples/torch_mlp_dropout.py      # exit 0, every parameter "right"
    python examples/torch_mlp_dropout.py                              # the same from Python

``torch.autograd.gradcheck`` cannot check this model as it trains: every call draws new dropout
masks (pytorch/pytorch#114333). ``practicaldl.torch.check_module`` replays PyTorch's random
generator before every evaluation, so each one sees the same masks.
"""

import torch
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler
from torch import nn

torch.manual_seed(0)
X, y = load_iris(return_X_y=True)
inputs = torch.tensor(StandardScaler().fit_transform(X)[::5], dtype=torch.float32)  # (30, 4)
targets = torch.tensor(y[::5])                                                      # (30,) class labels

model = nn.Sequential(
    nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2),
    nn.Linear(16, 8), nn.Tanh(), nn.Dropout(0.2),
    nn.Linear(8, 3),
)
model.train()
loss_fn = nn.CrossEntropyLoss()

if __name__ == "__main__":
    from practicaldl import torch as pdt

    print(pdt.check_module(model, loss_fn, inputs, targets))
