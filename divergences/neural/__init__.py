"""Neural estimators: a network trained on samples, one driver and one loop for every objective.

:func:`wasserstein_dual` estimates W1 through Kantorovich-Rubinstein duality:
a gradient-penalty critic, and potentials that are 1-Lipschitz by
construction (:class:`ConePotential`, :class:`RidgePotential`) for a lower
bound that holds whatever the data; :func:`js_dual` estimates Jensen-Shannon
with a GAN discriminator; their ``_batch`` forms train K networks as one stack
(the single functions are the case K = 1). Their settings are one
:class:`TrainingOptions`.

The extension point is public: an :class:`Objective` (two methods) says what a
network maximises, :func:`train` runs it with the options' optimiser and
schedule, and :class:`KantorovichDual` and :class:`JensenShannonDual` are the
two objectives the estimators use. :class:`Critic` is the network (any
floating input, on its device), :class:`CriticStack` K of them, and
:func:`default_architecture` says which critics the estimators train by default.
Both estimators' results share the fields of :class:`NeuralResult`.
"""

from divergences.neural._certified import ConePotential, Potential, RidgePotential
from divergences.neural._discriminator import (
    GENERATOR_LOSSES,
    DiscriminatorResult,
    js_dual,
    js_dual_batch,
)
from divergences.neural._dual import DualResult, wasserstein_dual, wasserstein_dual_batch
from divergences.neural._networks import (
    ACTIVATIONS,
    Critic,
    CriticStack,
    default_architecture,
    gradient_norms,
)
from divergences.neural._objectives import (
    PENALTIES,
    JensenShannonDual,
    KantorovichDual,
    log_d,
    log_one_minus_d,
)
from divergences.neural._results import NeuralResult
from divergences.neural._trainer import (
    STATISTICS,
    Objective,
    TrainingDivergedError,
    TrainingHistory,
    train,
)
from divergences.neural.options import OPTIMIZERS, TrainingOptions

__all__ = [
    "ACTIVATIONS",
    "GENERATOR_LOSSES",
    "OPTIMIZERS",
    "PENALTIES",
    "STATISTICS",
    "ConePotential",
    "Critic",
    "CriticStack",
    "DiscriminatorResult",
    "DualResult",
    "JensenShannonDual",
    "KantorovichDual",
    "NeuralResult",
    "Objective",
    "Potential",
    "RidgePotential",
    "TrainingDivergedError",
    "TrainingHistory",
    "TrainingOptions",
    "default_architecture",
    "gradient_norms",
    "js_dual",
    "js_dual_batch",
    "log_d",
    "log_one_minus_d",
    "train",
    "wasserstein_dual",
    "wasserstein_dual_batch",
]
