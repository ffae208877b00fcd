"""bench decide's split of the shipped model's avoidable regret by what it knew of the
link (decision.references)."""

from __future__ import annotations

from edgeoffload.bench.decide_models import link_split


def test_the_gaps_between_the_model_and_its_references_add_up_to_its_regret() -> None:
    policies = {
        "learned_mlp": {"a": {"avoidable_regret": 0.40}, "b": {"avoidable_regret": 0.05}},
        "learned_mlp_true_link": {"a": {"avoidable_regret": 0.15}, "b": {"avoidable_regret": 0.03}},
        "learned_mlp_true_transfers": {
            "a": {"avoidable_regret": 0.02},
            "b": {"avoidable_regret": 0.04},
        },
    }
    lines = link_split(policies, "learned_mlp").splitlines()
    assert lines[0].startswith("| traces | learned_mlp as it ran | told the link now |")
    # a: 40 % as it ran, 25 points from estimating the link now, 13 from its changes.
    assert lines[2] == "| a | 40.0% | 15.0% | 2.0% | 25.0% | 13.0% | 2.0% |"
    # b: knowing the transfers did worse than knowing the link now: a negative gap.
    assert lines[3] == "| b | 5.0% | 3.0% | 4.0% | 2.0% | -1.0% | 4.0% |"
