"""ep-suite: EP, IEP and backprop on equal footing (README.md)."""
from . import isa

isa.apply()  # first: numpy, torch and jax read their kernel caps once, when they load
