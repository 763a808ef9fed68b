"""Tasks and data: the paper's benchmarks, user tasks, embedded offline sets.

`get_task(name)` returns a `Task` for any of the 69 TFDS tasks of the
paper's five benchmarks (`BENCHMARKS`, spec §5.1) with their split rules
(spec §5.2), another TFDS image classification set, or an embedded offline
set (`EMBEDDED_TASKS`). `from_arrays` and `from_datasets` make tasks from
a user's own data. `mu2keras.tasks.pipeline` turns a task into batches
(spec §5.3).
"""

from mu2keras.tasks import pipeline
from mu2keras.tasks.data_hparams import DataHparams
from mu2keras.tasks.dataset_tasks import from_datasets
from mu2keras.tasks.embedded import EMBEDDED_TASKS
from mu2keras.tasks.embedded import FOOLBOX_SETS
from mu2keras.tasks.embedded import foolbox_samples
from mu2keras.tasks.embedded import is_available
from mu2keras.tasks.package_data import DataUnavailableError
from mu2keras.tasks.registry import BENCHMARKS
from mu2keras.tasks.registry import OTHER_TFDS_TASKS
from mu2keras.tasks.registry import benchmark_tasks
from mu2keras.tasks.registry import get_task
from mu2keras.tasks.registry import task_names
from mu2keras.tasks.task import SPLITS
from mu2keras.tasks.task import Task
from mu2keras.tasks.user_tasks import from_arrays

__all__ = [
    "BENCHMARKS",
    "DataHparams",
    "DataUnavailableError",
    "EMBEDDED_TASKS",
    "FOOLBOX_SETS",
    "OTHER_TFDS_TASKS",
    "SPLITS",
    "Task",
    "benchmark_tasks",
    "foolbox_samples",
    "from_arrays",
    "from_datasets",
    "get_task",
    "is_available",
    "pipeline",
    "task_names",
]
