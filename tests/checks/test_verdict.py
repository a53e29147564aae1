"""How the results of a pipeline's checks fold into one decision."""

from __future__ import annotations

import pytest

from secgate.checks.verdict import (
    NOT_CHECKED,
    CheckResult,
    Decision,
    Verdict,
    held,
    passed,
    rejected,
)


def test_no_result_passes() -> None:
    decision = Decision.combine([])
    assert (decision.verdict, decision.code, decision.reasons) == (Verdict.PASS, None, [])


def test_all_passing_passes_and_lists_no_reason() -> None:
    decision = Decision.combine([passed("a"), passed("b")])
    assert decision.verdict is Verdict.PASS
    assert decision.reasons == []


def test_a_hold_beats_a_pass_and_carries_no_code() -> None:
    decision = Decision.combine([passed("a"), held("links", "shortened link", host="bit.ly")])
    assert (decision.verdict, decision.code) == (Verdict.HOLD, None)
    assert decision.reasons == [
        {"check": "links", "verdict": "hold", "reason": "shortened link", "host": "bit.ly"}
    ]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_a_reject_beats_a_hold_whatever_the_order(order: tuple[int, int]) -> None:
    results = [held("links", "shortened link"), rejected("spam_model", "ERR032", "spam")]
    decision = Decision.combine([results[i] for i in order])
    assert (decision.verdict, decision.code) == (Verdict.REJECT, "ERR032")
    assert {r["check"] for r in decision.reasons} == {"links", "spam_model"}


def test_the_first_rejecting_check_in_pipeline_order_gives_the_code() -> None:
    decision = Decision.combine(
        [rejected("sender_id", "ERR008", "looks like NBK"), rejected("words", "ERR031", "x")]
    )
    assert decision.code == "ERR008"


def test_the_spam_score_is_kept() -> None:
    assert Decision.combine([passed("spam_model")], spam_score=0.25).spam_score == 0.25


def test_a_pass_of_a_check_that_did_not_answer_is_listed_as_a_reason() -> None:
    # A check that failed open passed without looking: staff must see it was skipped.
    skipped = CheckResult("pumping", Verdict.PASS, "not checked", details={NOT_CHECKED: True})
    decision = Decision.combine([passed("links"), skipped])
    assert decision.verdict is Verdict.PASS
    assert decision.reasons == [
        {"check": "pumping", "verdict": "pass", "reason": "not checked", "not_checked": True}
    ]
