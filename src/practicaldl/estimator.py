"""``NeuralNetClassifier``: the network as a scikit-learn estimator.

It speaks scikit-learn's layout, X (n_samples, n_features), an array or a pandas DataFrame of
numeric columns (their names are kept in ``feature_names_in_`` and checked at predict, as
scikit-learn's estimators do), and transposes once to the core's (n_x, m). Two classes give one sigmoid output unit; more give a softmax layer. Labels of any
type are mapped through ``classes_``. ``__init__`` stores the parameters verbatim; ``fit``
validates them.

With ``random_state=3``, ``hidden_layer_sizes=(10, 5)``, ``init="he"``, ``learning_rate=0.01``,
``max_iter=15000`` on the course's circles, the fit reproduces the course's He results exactly.
The optimizer is gradient descent unless ``optimizer`` names another (momentum, RMSprop, Adam:
``engine.optimizers``), optionally with the course's learning-rate decay.
"""

from __future__ import annotations

import numbers
import os
import warnings
from typing import Optional

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import assert_all_finite, check_is_fitted, validate_data

from .core.activations import get_activation
from .core.initializers import INITIALIZERS
from .core.network import initialize_parameters, predict_proba
from .core.randomness import as_generator
from .core.validation import check_choice, check_keep_prob, check_non_negative, check_positive
from .diagnostics.inputs import SubnormalInputWarning, subnormal_warning
from .diagnostics.monitor import TrainingMonitor
from .engine.loop import train
from .engine.optimizers import DEFAULT_SETTINGS, Optimizer, check_settings, get_optimizer, make_optimizer
from .engine.schedules import make_schedule


class NeuralNetClassifier(ClassifierMixin, BaseEstimator):
    """A fully-connected network trained by gradient descent, momentum, RMSprop or Adam.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (10, 5)
        Units per hidden layer.
    activation : str, default "relu"
        Hidden-layer activation: "relu", "tanh", "sigmoid", or a name registered with
        ``practicaldl.register_activation``.
    init : str or callable, default "he"
        A name from ``practicaldl.initializers.INITIALIZERS`` or ``init(shape, rng) -> W``.
    init_scale : float, default 1.0
        Multiplies the initial weights' standard deviation (``init="random", init_scale=10`` is
        the course's "random x10").
    learning_rate : float, default 0.01
        The initial learning rate (the optimizer's step size).
    optimizer : str or Optimizer, default "gd"
        "gd" (gradient descent), "momentum" (uses ``beta``), "rmsprop" (``beta2``, ``epsilon``),
        "adam" (``beta1``, ``beta2``, ``epsilon``), a name added to
        ``practicaldl.engine.optimizers.OPTIMIZERS``, or an ``Optimizer`` instance (a copy of it
        trains; its own learning rate, settings and schedule apply, and the settings here must
        then be left at their defaults or equal its own).
    beta : float, default 0.9
        Momentum's averaging rate: ``v := beta v + (1 - beta) dW``; in [0, 1) (0 is gradient descent).
    beta1, beta2 : float, default 0.9, 0.999
        Adam's averaging rates of the gradients and of their squares (RMSprop uses ``beta2``); in [0, 1).
    epsilon : float, default 1e-8
        Added to ``sqrt(s)`` in RMSprop's and Adam's denominators; > 0.
    decay_rate : float or None, default None
        Learning-rate decay after each epoch i: ``learning_rate / (1 + decay_rate i)`` (the
        course's ``update_lr``); None: a constant rate.
    decay_interval : int or None, default None
        With ``decay_rate``: decay in steps, ``learning_rate / (1 + decay_rate floor(i / decay_interval))``
        (the course's ``schedule_lr_decay``).
    max_iter : int, default 15000
        Iterations; with minibatches, an iteration is one epoch.
    batch_size : int or None, default None
        None: one full-batch step per iteration. Else shuffled minibatches of that size.
    l2 : float, default 0.0
        L2 strength: ``(l2 / 2m) sum ||W_l||^2`` in the cost (same as scikit-learn's ``alpha``).
    keep_prob : float or tuple of float, default 1.0
        Inverted-dropout keep probability per hidden layer (1.0: no dropout).
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the training data (stratified), stop when its
        cross-entropy has not improved by ``tol`` for ``n_iter_no_change`` iterations, and restore
        the best weights.
    validation_fraction, n_iter_no_change, tol
        Early-stopping settings.
    random_state : None, int, RandomState or Generator
        The one source of every draw (see ``practicaldl.randomness``).
    verbose : bool, default False
        Print the cost every ``max(1, max_iter // 10)`` iterations.
    monitor_every : int, default 0
        Every that many iterations record per-layer gradient norms, update-to-weight ratios and
        dead-unit fractions (``diagnostics.TrainingMonitor``) in ``training_diagnostics_``; 0: off.
    blas_threads : int or None, default None
        Threads for the BLAS library during fit (None: its default, usually one per core). Results
        are bit-for-bit reproducible for a given seed, dtype and thread count.

    Attributes
    ----------
    parameters_ : dict  ``W1, b1, ...`` in the course's layout.
    cost_history_ : list  cost per iteration (cross-entropy + L2 term), before that iteration's update.
    learning_rate_history_ : list  the learning rate each iteration's updates used.
    optimizer_ : Optimizer  the optimizer that trained, with its final state (``t``, ``v``, ``s``, ...).
    cross_entropy_history_ : list  cross-entropy alone.
    validation_cost_history_ : list  with early stopping.
    training_diagnostics_ : list  ``TrainingMonitor`` records (dicts), empty when ``monitor_every=0``.
    n_iter_, stop_reason_, best_iteration_, classes_, n_features_in_
    """

    def __init__(self, hidden_layer_sizes=(10, 5), *, activation="relu", init="he", init_scale=1.0,
                 learning_rate=0.01, optimizer="gd", beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 decay_rate=None, decay_interval=None, max_iter=15000, batch_size=None, l2=0.0, keep_prob=1.0,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=100, tol=1e-6,
                 random_state=None, verbose=False, monitor_every=0, blas_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.init = init
        self.init_scale = init_scale
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.beta = beta
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.decay_rate = decay_rate
        self.decay_interval = decay_interval
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.l2 = l2
        self.keep_prob = keep_prob
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.monitor_every = monitor_every
        self.blas_threads = blas_threads

    # -- validation -------------------------------------------------------------------------
    def _check_params(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)):
            sizes = (sizes,)
        sizes = tuple(sizes)
        for s in sizes:
            check_int64("hidden_layer_sizes entries", s)
            check_positive("hidden_layer_sizes entries", s, integer=True)
        for name in ("max_iter", "batch_size", "n_iter_no_change", "monitor_every"):
            check_int64(name, getattr(self, name))
        get_activation(self.activation)  # the registry: built-in names and those registered
        check_choice("init", self.init, INITIALIZERS)
        check_positive("init_scale", self.init_scale)
        check_positive("learning_rate", self.learning_rate)
        self._check_optimizer()
        check_positive("max_iter", self.max_iter, integer=True)
        if isinstance(self.monitor_every, bool) or not isinstance(self.monitor_every, numbers.Integral) \
                or self.monitor_every < 0:
            raise ValueError(f"monitor_every must be a non-negative integer, got {self.monitor_every!r}")
        if self.batch_size is not None:
            check_positive("batch_size", self.batch_size, integer=True)
        check_non_negative("l2", self.l2)
        keep_prob = check_keep_prob(self.keep_prob, len(sizes))
        if self.early_stopping:
            if not 0 < self.validation_fraction < 1:
                raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
            check_positive("n_iter_no_change", self.n_iter_no_change, integer=True)
            check_non_negative("tol", self.tol)
        return sizes, keep_prob

    def _optimizer_settings(self) -> dict:
        return {"learning_rate": self.learning_rate, **{k: getattr(self, k) for k in DEFAULT_SETTINGS},
                "decay_rate": self.decay_rate, "decay_interval": self.decay_interval}

    def _check_optimizer(self) -> None:
        """The optimizer settings; with an ``Optimizer`` instance, none may contradict it."""
        settings = self._optimizer_settings()
        check_settings(**{k: v for k, v in settings.items() if k != "learning_rate"})
        if not isinstance(self.optimizer, Optimizer):
            get_optimizer(self.optimizer)
            return
        own = self.optimizer.config()
        defaults = NeuralNetClassifier.__init__.__kwdefaults__
        for name in ("learning_rate", *DEFAULT_SETTINGS):
            default = defaults[name]
            value = settings[name]
            if value != default and own.get(name, default) != value:
                raise ValueError(f"{name}={value!r} contradicts optimizer={self.optimizer!r}: with an Optimizer "
                                 f"instance, set {name} on the instance (or leave it at its default {default!r})")
        schedule = make_schedule(self.decay_rate, self.decay_interval)
        if schedule is not None and own["schedule"] != schedule:
            raise ValueError(f"decay_rate={self.decay_rate!r} and decay_interval={self.decay_interval!r} contradict "
                             f"optimizer={self.optimizer!r}: with an Optimizer instance, give it the schedule")

    def _make_optimizer(self) -> Optimizer:
        """A fresh optimizer for one fit: a copy of the instance, or one built from the settings."""
        if isinstance(self.optimizer, Optimizer):
            return self.optimizer.copy()
        return make_optimizer(self.optimizer, **self._optimizer_settings())

    def _encode(self, y):
        """Y in the core's layout: (1, m) of 0/1 for two classes, one-hot (K, m) for more."""
        Y = self._binarizer.transform(y).T
        return Y.astype(np.float64)

    # -- scikit-learn API ---------------------------------------------------------------------
    def fit(self, X, y):
        """Train on X (n_samples, n_features) and labels y (n_samples,).

        A fit that fails (bad input, divergence, an interrupt) leaves the estimator exactly as it
        was: every attribute is restored, a fitted estimator stays fitted with its old parameters.
        """
        state = dict(self.__dict__)
        try:
            return self._fit(X, y)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise

    def _fit(self, X, y):
        sizes, keep_prob = self._check_params()
        _check_numeric_columns(X)
        if np.asarray(X).dtype.kind in "USa":
            raise ValueError(f"X must hold numeric features, got text (dtype {np.asarray(X).dtype}); encode "
                             "categorical features first, for example with sklearn.preprocessing.OneHotEncoder")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=False, ensure_all_finite=False)
        _assert_finite(X, self)
        subnormal = subnormal_warning(X)
        if subnormal:
            warnings.warn(subnormal, SubnormalInputWarning, stacklevel=3)
        check_classification_targets(y)
        binarizer = LabelBinarizer().fit(y)
        if len(binarizer.classes_) < 2:
            raise ValueError(f"y must contain at least 2 classes, got 1 class: {binarizer.classes_[0]}")
        self._binarizer = binarizer
        classes = binarizer.classes_
        output = "sigmoid" if len(classes) == 2 else "softmax"
        n_out = 1 if output == "sigmoid" else len(classes)
        check_network_memory([X.shape[1], *sizes, n_out], X.shape[0] if self.batch_size is None
                             else min(X.shape[0], self.batch_size), X.dtype.itemsize)
        rng = as_generator(self.random_state)
        params = initialize_parameters([X.shape[1], *sizes, n_out], init=self.init, init_scale=self.init_scale,
                                       rng=rng, dtype=X.dtype)
        XT, Y = X.T, self._encode(y).astype(X.dtype)  # (n_x, m), (n_L, m)
        validation = None
        if self.early_stopping:
            XT, Y, validation = self._split_validation(XT, Y, y, rng)
        callbacks = (self._verbose_callback(),) if self.verbose else ()
        monitor = TrainingMonitor(self.monitor_every)
        if self.monitor_every:
            callbacks += (monitor,)
        optimizer = self._make_optimizer()
        params, history = train(params, XT, Y, optimizer=optimizer, max_iter=self.max_iter, rng=rng,
                                batch_size=self.batch_size, l2=self.l2, keep_prob=keep_prob,
                                activation=self.activation, output=output, validation=validation,
                                n_iter_no_change=self.n_iter_no_change, tol=self.tol, callbacks=callbacks,
                                blas_threads=self.blas_threads)
        self.classes_ = classes
        self.output_ = output
        self.parameters_ = params
        self.cost_history_ = history.cost
        self.cross_entropy_history_ = history.cross_entropy
        self.learning_rate_history_ = history.learning_rate
        optimizer.scratch = None  # the work vector; the state (t, v, s, ...) stays readable
        self.optimizer_ = optimizer
        self.validation_cost_history_ = history.validation_cost
        self.n_iter_ = history.n_iter
        self.stop_reason_ = history.stop_reason
        self.best_iteration_ = history.best_iteration
        self.training_diagnostics_ = monitor.records
        return self

    def _split_validation(self, XT, Y, y, rng):
        """Hold out a stratified ``validation_fraction`` (drawn from the one generator)."""
        m = XT.shape[1]
        order = rng.permutation(m)  # one draw; each class keeps its first share in this order
        val_mask = np.zeros(m, dtype=bool)
        for label in np.unique(y):
            members = order[y[order] == label]
            val_mask[members[: max(1, int(round(self.validation_fraction * len(members))))]] = True
        if val_mask.all():
            raise ValueError(f"validation_fraction={self.validation_fraction} leaves no training data for {m} samples")
        val_idx, train_idx = np.flatnonzero(val_mask), np.flatnonzero(~val_mask)
        return XT[:, train_idx], Y[:, train_idx], (XT[:, val_idx], Y[:, val_idx])

    def _verbose_callback(self):
        every = max(1, self.max_iter // 10)

        def report(info):
            if info.iteration % every == 0 or info.iteration == 1:
                print(f"Cost after iteration {info.iteration}: {info.cost}")

        return report

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        check_is_fitted(self, "parameters_")
        _check_numeric_columns(X)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False, ensure_all_finite=False)
        _assert_finite(X, self)
        AL = predict_proba(self.parameters_, X.T.astype(self.parameters_["W1"].dtype, copy=False),
                           activation=self.activation, output=self.output_)
        if self.output_ == "sigmoid":
            return np.vstack([1 - AL[0], AL[0]]).T
        return AL.T

    def predict(self, X):
        """Labels (n_samples,): the class whose probability is highest (``A_L > 0.5`` for two)."""
        proba = self.predict_proba(X)
        if self.output_ == "sigmoid":
            return self.classes_[(proba[:, 1] > 0.5).astype(int)]
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


def check_int64(name: str, value) -> None:
    """An integer setting beyond int64 (``max_iter=10**23``) is refused with a message naming it
    (NumPy could not hold it); other values pass through to the regular checks."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and not -2**63 <= value < 2**63:
        raise ValueError(f"{name} must be an integer below 2**63, got {value}")


def _physical_memory() -> Optional[int]:
    """This machine's memory in bytes, None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_network_memory(layer_dims, m: int = 0, itemsize: int = 8) -> None:
    """Refuse, before anything is allocated, a network that cannot be trained in this machine's
    memory: ``itemsize * (4 P + 3 m sum(n_l))`` bytes, P the parameters (W_l, b_l), held as
    parameters, gradients and up to two optimizer states, and the pre-activations, activations
    and dropout masks of ``m`` examples per step."""
    n_params = sum(a * b + a for a, b in zip(layer_dims[1:], layer_dims[:-1]))
    need = itemsize * (4 * n_params + 3 * m * sum(layer_dims[1:]))
    memory = _physical_memory()
    if memory is not None and need > memory:
        raise ValueError(f"hidden_layer_sizes {tuple(layer_dims[1:-1])} need about {need / 2**30:.3g} GiB to train "
                         f"({n_params:,} parameters, their gradients and optimizer state, and the activations of "
                         f"{m} examples per step), more than this machine's {memory / 2**30:.3g} GiB of memory")


def _check_numeric_columns(X) -> None:
    """A DataFrame's text or categorical columns, named, before scikit-learn's "could not convert" error."""
    if hasattr(X, "select_dtypes"):
        text = [str(c) for c in X.select_dtypes(exclude=["number", "bool"]).columns]
        if text:
            raise ValueError(f"X must hold numeric features; the columns {text} are not numeric: encode them first, "
                             "for example with sklearn.compose.ColumnTransformer and OneHotEncoder (the practicaldl "
                             "command line does this for tables)")


def _assert_finite(X: np.ndarray, estimator) -> None:
    """scikit-learn's check that X holds no NaN or infinity, with a faster first pass.

    scikit-learn first tests ``isfinite(sum(X))``, a pass on one core. The dot product ``x . x``
    of X flattened with itself is finite exactly when every entry is (inf^2 = inf, NaN stays NaN),
    unless the squares overflow (entries beyond about 1e19 in float32), and the BLAS computes it
    on every core: 6.3 against 10.2 ms for 60000 x 784 float32, 9 against 22 ms in float64.
    Where that is not finite, or X is not contiguous, scikit-learn's own check decides, with its
    own messages.
    """
    finite = False
    if X.flags.c_contiguous or X.flags.f_contiguous:
        flat = X.reshape(-1, order="A")  # a view
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow only sends X to the full check
            finite = bool(np.isfinite(np.dot(flat, flat)))
    if not finite:
        assert_all_finite(X, input_name="X", estimator_name=type(estimator).__name__)
