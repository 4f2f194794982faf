"""The effects stage's settings (conf/effects/, composed as ``effects`` in params.yaml)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ForestSettings(_Strict):
    """The DR-learner's final stage: an honest generalized random forest (EconML
    ``ForestDRLearner``), whose bootstrap-of-little-bags gives per-patient intervals."""

    n_estimators: int = Field(ge=4, multiple_of=4)  # EconML grows trees in subforests of 4
    min_samples_leaf: int = Field(ge=1)
    max_depth: int | None = Field(default=None, ge=1)


class OverlapSettings(_Strict):
    """Observational cohorts only: propensities below ``min_propensity`` are poor overlap;
    more than ``max_share`` of patients with one stops the stage (randomised: unused)."""

    min_propensity: float = Field(gt=0, lt=0.5)
    max_share: float = Field(ge=0, lt=1)


class EffectsSettings(_Strict):
    """Per-patient treatment effects (src/lbp_outcomes/effects/). ``enabled: false``
    (conf/effects/none.yaml) writes ``{"available": false}`` like a cohort without arms."""

    enabled: bool
    # The nuisance learner (outcome per arm, and propensity when observational): one model
    # family of conf/model/, composed here by conf/effects/dr.yaml's defaults list, with its
    # fixed hyperparameters (not train's tuned ones: effects runs after features, not train).
    nuisance: dict[str, dict[str, Any]] = Field(default_factory=dict)
    folds: int = Field(default=5, ge=2)  # cross-fitting folds, stratified by arm
    ci_level: float = Field(default=0.95, gt=0, lt=1)
    # Significance level of the heterogeneity test (Bonferroni over the non-reference arms).
    test_level: float = Field(default=0.05, gt=0, lt=1)
    n_boot: int = Field(default=200, ge=10)  # bootstrap replicates for TOC/Qini CIs
    groups: int = Field(default=5, ge=2)  # predicted-benefit groups (GATES)
    # The target whose "better" decides the recommended arm; null: the first MCIC target
    # (success: higher is better), else the first target.
    policy_target: str | None = None
    # The targets analysed (null: every target and MCIC target of the data config).
    targets: list[str] | None = None
    # The DR-learner's final stage: "forest" (honest causal forest, any shape of effect)
    # or "linear" (OLS per arm, robust CIs: effects linear in the modifiers, steps for
    # categories; less variance on trial-sized cohorts).
    final: Literal["forest", "linear"] = "linear"
    forest: ForestSettings
    overlap: OverlapSettings

    @model_validator(mode="after")
    def _one_learner(self) -> EffectsSettings:
        if self.enabled and len(self.nuisance) != 1:
            raise ValueError("`nuisance` needs exactly one model family (conf/model/<name>)")
        return self


Better = Literal["higher", "lower"]
