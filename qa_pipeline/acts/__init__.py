"""Customer-service dialogue acts (issue 24): taxonomy, calibrated classifier, tenant acts."""

from qa_pipeline.acts.model import (
    ActHeads,
    ActModel,
    TenantActExamples,
    clear_tenant_cache,
    load_act_model,
    load_embedded_act_model,
    use_act_model,
    weights_card,
)
from qa_pipeline.acts.taxonomy import ACTS, ROLES, TAXONOMY, ActExample, ActInfo, read_act_corpus

__all__ = [
    "ACTS",
    "ROLES",
    "TAXONOMY",
    "ActExample",
    "ActHeads",
    "ActInfo",
    "ActModel",
    "TenantActExamples",
    "clear_tenant_cache",
    "load_act_model",
    "load_embedded_act_model",
    "use_act_model",
    "read_act_corpus",
    "weights_card",
]
