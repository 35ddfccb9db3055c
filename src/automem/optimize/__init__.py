"""Loop 1 as library code: the search (:func:`optimize`), its reviewers (an LLM's or the
rules'), checks of proposed scaffolds, gate rules, screening, the Pareto pool, the lineage.

Sits above ``runs/``; talks to runs, traces and scaffolds only through their public functions.
"""

from automem.optimize.config import (
    MeanRule,
    OptimizeBudget,
    OptimizeConfig,
    PairedRule,
    ParetoRule,
)
from automem.optimize.gate import (
    Acceptance,
    Decision,
    MeanGain,
    PairedGain,
    mean_progression,
    screen,
    screening_subset,
)
from automem.optimize.lineage import Lineage, read_lineage
from automem.optimize.pareto import ParetoPool
from automem.optimize.patch import PatchError, apply_patch
from automem.optimize.proposal import (
    NEAR_DUPLICATE,
    CheckedProposal,
    ProposalRejected,
    Revision,
    ask_until_valid,
    check_proposal,
    code_written_files,
    duplicate_ratio,
)
from automem.optimize.review import ReviewContext, Reviewer, ReviewLimits, ReviewOutcome
from automem.optimize.reviewer import LLMReviewer
from automem.optimize.reviewers import resolve_reviewer
from automem.optimize.rules import RulesReviewer
from automem.optimize.search import OptimizeError, OptimizeResult, optimize
from automem.optimize.seeds import SeedSplit, split_seeds
from automem.optimize.structure import structural_changes
from automem.optimize.validity import Validity, by_instance, check_valid, run_episodes

__all__ = [
    "NEAR_DUPLICATE",
    "Acceptance",
    "CheckedProposal",
    "Decision",
    "LLMReviewer",
    "Lineage",
    "MeanGain",
    "MeanRule",
    "OptimizeBudget",
    "OptimizeConfig",
    "OptimizeError",
    "OptimizeResult",
    "PairedGain",
    "PairedRule",
    "ParetoPool",
    "ParetoRule",
    "PatchError",
    "ProposalRejected",
    "ReviewContext",
    "ReviewLimits",
    "ReviewOutcome",
    "Reviewer",
    "Revision",
    "RulesReviewer",
    "SeedSplit",
    "Validity",
    "apply_patch",
    "ask_until_valid",
    "by_instance",
    "check_proposal",
    "check_valid",
    "code_written_files",
    "duplicate_ratio",
    "mean_progression",
    "optimize",
    "read_lineage",
    "resolve_reviewer",
    "run_episodes",
    "screen",
    "screening_subset",
    "split_seeds",
    "structural_changes",
]
