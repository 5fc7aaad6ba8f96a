"""The review side of the product: users and roles, the review queue and verdicts that
re-score cards, disputes, calibration (AI vs human agreement), the case library and the
dashboards. The web app (:mod:`qa_pipeline.web`) is a thin layer over this package.
"""

from qa_pipeline.review.calibration import Agreement, calibration, cohen_kappa
from qa_pipeline.review.cases import CaseLibrary, CaseQuery, Exemplar
from qa_pipeline.review.dashboard import DashboardFilter, kpi_table
from qa_pipeline.review.desk import QueueFilter, QueuePage, ReviewDesk
from qa_pipeline.review.rescore import HumanVerdict, RubricCatalog, apply_verdicts
from qa_pipeline.review.users import ROLES, UserAccount, UserDirectory

__all__ = ["ROLES", "Agreement", "CaseLibrary", "CaseQuery", "DashboardFilter", "Exemplar",
           "HumanVerdict", "QueueFilter", "QueuePage", "ReviewDesk", "RubricCatalog",
           "UserAccount", "UserDirectory", "apply_verdicts", "calibration", "cohen_kappa",
           "kpi_table"]
