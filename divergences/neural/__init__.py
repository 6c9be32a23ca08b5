"""Neural estimators: a network trained on samples, one loop for every objective.

:func:`wasserstein_dual` estimates W1 through Kantorovich-Rubinstein duality
with a gradient-penalty critic; :func:`js_dual` estimates Jensen-Shannon with a
GAN discriminator; their ``_batch`` forms train K networks as one stack. The
pieces are private modules: the networks (``_networks``), the objectives
(``_objectives``), the generic training loop (``_trainer``), the shared set-up
(``_fitting``) and the public functions with their result types (``_dual``,
``_discriminator``).
"""

from divergences.neural._discriminator import DiscriminatorResult, js_dual, js_dual_batch
from divergences.neural._dual import DualResult, wasserstein_dual, wasserstein_dual_batch
from divergences.neural._networks import Critic, CriticStack
from divergences.neural._trainer import TrainingDivergedError, TrainingHistory

__all__ = [
    "Critic",
    "CriticStack",
    "DiscriminatorResult",
    "DualResult",
    "TrainingDivergedError",
    "TrainingHistory",
    "js_dual",
    "js_dual_batch",
    "wasserstein_dual",
    "wasserstein_dual_batch",
]
