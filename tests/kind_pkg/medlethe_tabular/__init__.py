"""medlethe-tabular: a kind of task that medlethe does not ship, added as a plugin.

Each row is one visit of a patient: age, sex, creatinine, diabetes and an ACE inhibitor;
the task is whether the visit's potassium came back abnormal. A small MLP answers it. The
package brings everything a kind needs: the kind (``kind.py``), its model family and model
(``model.py``), a backend that runs the model (``backend.py``), the task (``task.py``), a
method that unlearns it and two metrics (``method.py``, ``metrics.py``). It imports only
medlethe's public names.
"""
