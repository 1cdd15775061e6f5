"""Course-style code to gradient-check: ``practicaldl gradcheck --code examples/gradcheck_course.py``.

A 3-layer network (LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID) written the way the
course teaches it: the cost from the sigmoid's output A3, ``-(1/m) sum(Y log A3 + (1 - Y) log(1 - A3))``,
a forward function returning (cost, cache) and a backward function returning the gradients.
``practicaldl gradcheck --code`` finds ``parameters``, ``X``, ``Y``, ``forward_propagation_n`` and
``backward_propagation_n`` here and checks the one against the other: this backprop is right
(exit code 0). ``gradcheck_course_bug.py`` is the same file with a planted bug.
"""

import numpy as np

rng = np.random.RandomState(1)
X = rng.randn(4, 3)                                   # 4 features, 3 examples
Y = np.array([[1.0, 0.0, 1.0]])
parameters = {"W1": rng.randn(5, 4) * 0.5, "b1": rng.randn(5, 1) * 0.1,
              "W2": rng.randn(3, 5) * 0.5, "b2": rng.randn(3, 1) * 0.1,
              "W3": rng.randn(1, 3) * 0.5, "b3": rng.randn(1, 1) * 0.1}


def relu(Z):
    return np.maximum(0, Z)


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def forward_propagation_n(X, Y, parameters):
    """The cost and a cache for the backward pass."""
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    Z1 = np.dot(W1, X) + b1
    A1 = relu(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = relu(Z2)
    Z3 = np.dot(W3, A2) + b3
    A3 = sigmoid(Z3)
    m = X.shape[1]
    logprobs = np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)
    cost = 1.0 / m * np.sum(logprobs)
    cache = (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)
    return cost, cache


def backward_propagation_n(X, Y, cache):
    """The gradients dW1, db1, ... (and the course's dZ, dA along the way)."""
    m = X.shape[1]
    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache
    dZ3 = A3 - Y
    dW3 = 1.0 / m * np.dot(dZ3, A2.T)
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = np.dot(W3.T, dZ3)
    dZ2 = np.multiply(dA2, np.int64(A2 > 0))
    dW2 = 1.0 / m * np.dot(dZ2, A1.T)
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(W2.T, dZ2)
    dZ1 = np.multiply(dA1, np.int64(A1 > 0))
    dW1 = 1.0 / m * np.dot(dZ1, X.T)
    db1 = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
            "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
