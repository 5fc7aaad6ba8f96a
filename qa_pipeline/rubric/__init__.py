"""Rubrics: YAML files of fatal and non-fatal criteria, evaluated against conversations."""

from qa_pipeline.rubric.context import EvaluationContext
from qa_pipeline.rubric.engine import CriterionResult, RubricResult, evaluate
from qa_pipeline.rubric.loader import load_rubric, load_rubric_text, rubric_json_schema
from qa_pipeline.rubric.registry import register_rule, rule_types
from qa_pipeline.rubric.schema import Rubric

__all__ = [
    "CriterionResult", "EvaluationContext", "Rubric", "RubricResult", "evaluate", "load_rubric",
    "load_rubric_text", "register_rule", "rubric_json_schema", "rule_types",
]
