"""lifecycle-bot: cited answers about Airflow's KubernetesExecutor task lifecycle, fully offline.

Importing the package switches every third-party library it uses into offline, no-telemetry mode
*before* any of them is imported, so no code path can reach a model hub or an analytics endpoint.
"""

from lifecycle_bot import _offline

_offline.apply()

__version__ = "0.1.0"
