"""Neural estimators: a critic network trained on samples, one loop for every objective.

:func:`wasserstein_dual` estimates W1 through Kantorovich-Rubinstein duality
with a gradient-penalty critic. The pieces are private modules: the networks
(``_networks``), the objectives (``_objectives``), the generic training loop
(``_trainer``) and the public function with its result type (``_dual``).
"""

from divergences.neural._dual import DualResult, wasserstein_dual
from divergences.neural._networks import Critic
from divergences.neural._trainer import TrainingDivergedError, TrainingHistory

__all__ = ["Critic", "DualResult", "TrainingDivergedError", "TrainingHistory", "wasserstein_dual"]
