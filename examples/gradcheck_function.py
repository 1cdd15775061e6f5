"""One function returning the cost and the gradients: ``practicaldl gradcheck --code examples/gradcheck_function.py``.

Logistic regression with L2, its parameters named as you like ("weights", "bias"): the file
defines ``parameters`` and ``cost_and_gradients(parameters) -> (cost, grads)``, the gradient of
``parameters[name]`` under ``"d" + name``. From Python the same check is::

    import practicaldl as pdl
    report = pdl.gradient_check(lambda p: cost_and_gradients(p)[0], parameters,
                                cost_and_gradients(parameters)[1])
"""

import numpy as np

rng = np.random.RandomState(0)
X = rng.randn(3, 20)                                   # 3 features, 20 examples
Y = (rng.rand(1, 20) < 0.5).astype(float)
l2 = 0.1
parameters = {"weights": rng.randn(1, 3), "bias": np.zeros((1, 1))}


def cost_and_gradients(parameters):
    w, b = parameters["weights"], parameters["bias"]
    m = X.shape[1]
    Z = w @ X + b
    A = 1 / (1 + np.exp(-Z))
    cost = -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)) + l2 / (2 * m) * np.sum(w ** 2)
    dZ = (A - Y) / m
    grads = {"dweights": dZ @ X.T + l2 / m * w, "dbias": np.sum(dZ, axis=1, keepdims=True)}
    return cost, grads
