"""Tasks: YAML or Python definitions of benchmarks with named splits."""

from medlethe.paths import cache_root, ensure_dir
from medlethe.task.base import (
    Instance,
    LabelledData,
    LabelledText,
    SplitsTask,
    Task,
    TrainingData,
    TrainingExample,
    fingerprint,
    metric_specs,
    split_docs,
    training_side,
)
from medlethe.task.config import (
    TASK_SCHEMA_VERSION,
    DatasetConfig,
    GenerationConfig,
    MetricSpec,
    OutputType,
    SplitConfig,
    TaskConfig,
    load_task_config,
)
from medlethe.task.yaml_task import (
    ConfigTask,
    load_task_file,
    quiet_datasets,
    register_yaml_tasks,
    yaml_task_factory,
)

__all__ = [
    "TASK_SCHEMA_VERSION",
    "ConfigTask",
    "DatasetConfig",
    "GenerationConfig",
    "Instance",
    "LabelledData",
    "LabelledText",
    "MetricSpec",
    "OutputType",
    "SplitConfig",
    "SplitsTask",
    "Task",
    "TaskConfig",
    "TrainingData",
    "TrainingExample",
    "cache_root",
    "ensure_dir",
    "fingerprint",
    "load_task_config",
    "load_task_file",
    "metric_specs",
    "quiet_datasets",
    "register_yaml_tasks",
    "split_docs",
    "training_side",
    "yaml_task_factory",
]
