"""The report's sections, each built from the inputs it needs, one module per section.

Every builder returns a :class:`~lbp_outcomes.report.document.Section`; when its input is
absent the section holds one line saying which file is missing and which stage writes it,
and the rest of the report is unaffected. Text is written for two readers: a clinician
(what the numbers mean, in the outcome's own units) and a reviewer (how they were obtained,
with CIs and settings). The wording lives in Jinja partials under templates/prose/
(rendered by :mod:`lbp_outcomes.report.prose`); these modules choose the numbers, format
them, and decide which partial says what.
"""

from lbp_outcomes.report.sections.cohort import characteristics, cohort
from lbp_outcomes.report.sections.cv import cross_validation
from lbp_outcomes.report.sections.explanations import explanations, limitations
from lbp_outcomes.report.sections.external import external
from lbp_outcomes.report.sections.methods import methods
from lbp_outcomes.report.sections.published import published
from lbp_outcomes.report.sections.summary import summary

__all__ = [
    "characteristics",
    "cohort",
    "cross_validation",
    "explanations",
    "external",
    "limitations",
    "methods",
    "published",
    "summary",
]
