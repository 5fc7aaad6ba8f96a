"""Call reason / work-order type per call, from a per-tenant taxonomy."""

from qa_pipeline.call_reason.classifier import CallReason, CallReasonClassifier, CallReasonOptions
from qa_pipeline.call_reason.taxonomy import ReasonClass, Taxonomy, load_taxonomy

__all__ = ["CallReason", "CallReasonClassifier", "CallReasonOptions", "ReasonClass", "Taxonomy",
           "load_taxonomy"]
