"""MLflow tracking: the only package that talks to MLflow (besides the UI plugin
mlflow_app.py).

Layout: one experiment per data config (``lbp-outcomes/<data.name>``); one parent run per
pipeline execution, opened by the train stage and resumed by the report stage through
reports/tracking.json (which also logs what external, explain and effects wrote: those
stages compute without MLflow, see ``outputs``); one child run per target x family with the
flattened resolved config as params, CV metrics (fold values as steps), tags, artifacts and
the final model; the best family per target registered as ``lbp-outcomes.<data>.<target>``
with alias ``champion``.

The store is the local sqlite database under the *real* project root (see
:func:`lbp_outcomes.config.store_root`), also when DVC runs an experiment in a temporary
copy. Runs end FINISHED, FAILED (an error) or KILLED (SIGINT/SIGTERM); a run whose
process was SIGKILLed (nothing inside it can close it) is closed KILLED by the next stage
that opens the experiment (:func:`close_orphaned_runs`).
No patient identifiers or raw rows are logged: params are configuration, metrics are
aggregates, prediction artifacts carry row positions, and the model's input example is a
made-up typical patient (medians and most frequent categories).

Modules: ``store`` (URI, experiment, names), ``provenance`` (params and tags), ``runs``
(:class:`Tracker`: parent and child runs), ``models`` (logged models), ``registry``
(champion versions), ``status`` (how runs end, orphans), ``train_runs`` (the train stage's
runs), ``outputs`` (the later stages' outputs, logged by the report stage), ``info``
(reports/tracking.json), ``ui`` (the MLflow UI). The names below are the
package's interface; stages import them from here.
"""

from lbp_outcomes import lifecycle

lifecycle.configure_environment(threads=False)  # also when imported without the CLI

# The submodules import each other directly, never through this module.
from lbp_outcomes.tracking.info import (  # noqa: E402
    read_parent_run,
    read_registered,
    write_tracking_file,
)
from lbp_outcomes.tracking.models import log_sklearn_model  # noqa: E402
from lbp_outcomes.tracking.provenance import data_hashes, flatten, run_tags  # noqa: E402
from lbp_outcomes.tracking.registry import Registry  # noqa: E402
from lbp_outcomes.tracking.runs import Tracker  # noqa: E402
from lbp_outcomes.tracking.status import OWNER_TAG, close_orphaned_runs, owner_tag  # noqa: E402
from lbp_outcomes.tracking.store import (  # noqa: E402
    CHAMPION,
    ensure_experiment,
    key,
    open_client,
    registered_name,
    tracking_uri,
)
from lbp_outcomes.tracking.train_runs import child_description, log_train  # noqa: E402
from lbp_outcomes.tracking.ui import (  # noqa: E402
    SHARED_VIEW,
    WORKFLOW,
    home_path,
    runs_url,
    serve_ui,
    shared_view,
)

__all__ = [
    "CHAMPION",
    "OWNER_TAG",
    "SHARED_VIEW",
    "WORKFLOW",
    "Registry",
    "Tracker",
    "child_description",
    "close_orphaned_runs",
    "data_hashes",
    "ensure_experiment",
    "flatten",
    "home_path",
    "key",
    "log_sklearn_model",
    "log_train",
    "open_client",
    "owner_tag",
    "read_parent_run",
    "read_registered",
    "registered_name",
    "run_tags",
    "runs_url",
    "serve_ui",
    "shared_view",
    "tracking_uri",
    "write_tracking_file",
]
