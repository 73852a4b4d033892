"""Online anomaly detection: one contract, ``Detector.update(timestamp, value) -> AnomalyPoint``.

Strictly online (a point is scored before it is learnt from), seasonality-aware, robust to
gaps and to outliers in its own history, with an explicit warm-up, JSON-safe state for
restarts, and an ``IncidentTracker`` that folds anomalous points into incidents.
"""

from forecasting.anomaly._state import StateError
from forecasting.anomaly.detector import BatchResult, Detector, DetectorConfig
from forecasting.anomaly.incidents import Incident, IncidentEvent, IncidentTracker, Transition
from forecasting.anomaly.point import EXPLAINED_SCORE, AnomalyPoint, Reason

__all__ = [
    "EXPLAINED_SCORE",
    "AnomalyPoint",
    "BatchResult",
    "Detector",
    "DetectorConfig",
    "Incident",
    "IncidentEvent",
    "IncidentTracker",
    "Reason",
    "StateError",
    "Transition",
]
