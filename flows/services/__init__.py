"""Writes of the flows domain, by subject: flows and versions (`flows.services.flows`), runs on
tickets (`flows.services.runs`), the test console (`flows.services.sandbox`)."""

from flows.services.flows import (
    EMPTY_GRAPH,
    FLOW_FIELDS,
    flow_create,
    flow_delete,
    flow_publish,
    flow_rollback,
    flow_update,
    flow_validate,
    flow_version_save,
    trigger_config_clean,
)
from flows.services.runs import (
    TicketEffects,
    flow_route_inbound,
    flow_route_queue_chosen,
    flow_run_advance,
    flow_run_start,
    flow_run_stop,
    flow_runs_resume_due,
    flow_runs_stop,
    flows_inactivity_start,
)
from flows.services.sandbox import SandboxEffects, flow_test

__all__ = [
    "EMPTY_GRAPH",
    "FLOW_FIELDS",
    "SandboxEffects",
    "TicketEffects",
    "flow_create",
    "flow_delete",
    "flow_publish",
    "flow_rollback",
    "flow_route_inbound",
    "flow_route_queue_chosen",
    "flow_run_advance",
    "flow_run_start",
    "flow_run_stop",
    "flow_runs_resume_due",
    "flow_runs_stop",
    "flow_test",
    "flow_update",
    "flow_validate",
    "flow_version_save",
    "flows_inactivity_start",
    "trigger_config_clean",
]
