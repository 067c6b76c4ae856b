"""zygopy.nn: layers, losses, optimisers and training, written in plain NumPy and differentiated
by zygopy (Flux's design: a layer is a class holding arrays plus a call).

    model = nn.Chain(nn.Conv(3, (1, 16), nn.relu, padding=1), nn.MaxPool(2), nn.flatten,
                     nn.Dense(16 * 4 * 4, 10))
    state = nn.setup(nn.Adam(1e-3), model)
    nn.train(lambda m, x, y: nn.logitcrossentropy(m(x), y), model, loader, state, epochs=5)
"""
from . import activations, data, init, layers, losses, optimisers, recurrent, saving, training

_MODULES = (activations, data, init, layers, losses, optimisers, recurrent, saving, training)
__all__ = [n for m in _MODULES for n in m.__all__]
globals().update({n: getattr(m, n) for m in _MODULES for n in m.__all__})
