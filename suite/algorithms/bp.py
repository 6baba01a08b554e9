"""docs/method.md §4: the backprop baseline, a feedforward net trained end to end on the cost C."""
from __future__ import annotations

from .algorithm import Algorithm, TrainState, backprop
from .energy import Layers
from .feedforward import backward, forward, sgd
from .inference import Model

LOSSES = ("squared", "cross_entropy")


def _log_softmax(xp, z):
    z = z - xp.max(z, axis=1, keepdims=True)
    return z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))


def loss(xp, params: Layers, x, y, kind: str = "squared"):
    """Batch mean of ||f_L - y||^2 (the cost C of docs/method.md §1, no 1/2) or of softmax cross-entropy on f_L."""
    out = forward(params, x)[1][-1]
    if kind == "squared":
        return xp.sum((out - y) ** 2) / x.shape[0]
    return -xp.sum(y * _log_softmax(xp, out)) / x.shape[0]


def gradients(backend, params: Layers, x, y, kind: str = "squared") -> Layers:
    """The framework's own autodiff; the NumPy reference uses the hand-derived backward pass."""
    xp = backend.xp
    if backend.grad is not None:
        return backend.grad(lambda p: loss(xp, p, x, y, kind))(params)
    us, fs = forward(params, x)
    if kind == "squared":
        out_grad = 2.0 * (fs[-1] - y) / x.shape[0]
    else:
        out_grad = (xp.exp(_log_softmax(xp, fs[-1])) - y) / x.shape[0]
    direct = [None] * (len(fs) - 1) + [out_grad]
    return backward(xp, params, x, us, fs, direct, through_layers=True)


def train_step(backend, params: Layers, x, y, lrs, kind: str = "squared") -> Layers:
    return sgd(params, gradients(backend, params, x, y, kind), lrs)


def step(backend, state: TrainState, x, y, idx, sign, hp, lam, *, kind: str) -> TrainState:
    return TrainState(Model(None, train_step(backend, state.model.feedforward, x, y, hp.lrs, kind)), None)


ALGORITHM = Algorithm(
    name="bp", summary="a feedforward net by backprop", nets=("feedforward",), inits=("none",),
    mode_kinds=("ff",), primary_kinds=("ff",), own_kind="ff", reads=frozenset({"bp_loss"}), step=step,
    multiply_adds=lambda products, cfg: backprop(products), static=lambda cfg: {"kind": cfg.bp_loss},
    colour="tab:green")
