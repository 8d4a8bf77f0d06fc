"""The statutory time limits of the EHC process and of the school's records, in one place.

The local authority's clocks (what the LA must do, by when) are fixed by law and no trust
policy changes them; the school's limits are the floor under every policy: a policy may
be stricter, never looser (`domain.policy.Deadlines` refuses a looser value at start,
naming the setting and the statute). Sources: the Children and Families Act 2014 (CFA),
the Special Educational Needs and Disability Regulations 2014 (SEND Regs), the SEND Code
of Practice 0 to 25 years (2015) (CoP), the First-tier Tribunal (HESC) Procedure Rules
2008, UK GDPR, the Education (Pupil Information) (England) Regulations 2005.
docs/read-models.md cites each beside the deadline it computes.

This module imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

# ----- the local authority's clocks ---------------------------------------------------------

# Decision whether to assess: 6 weeks from the request (SEND Regs reg. 4(1), 5(1); CoP 9.14).
ASSESSMENT_DECISION_WEEKS = 6
# Decision whether to issue a plan: 16 weeks from the request (SEND Regs reg. 10(1); CoP 9.53).
ISSUE_DECISION_WEEKS = 16
# The final plan: 20 weeks from the request (SEND Regs reg. 13(2); CoP 9.40).
FINAL_PLAN_WEEKS = 20
# Parents' time to comment on the draft and ask for a setting: at least 15 days (CFA s.38;
# SEND Regs reg. 13(1)(b); CoP 9.77).
DRAFT_COMMENT_DAYS = 15
# The LA's decision after an annual review: 4 weeks from the meeting (SEND Regs reg. 20(10);
# CoP 9.176).
REVIEW_DECISION_WEEKS = 4
# The amended plan: 8 weeks from the LA's notice of its decision to amend (SEND Regs
# reg. 22(3); CoP 9.194).
AMENDED_PLAN_WEEKS = 8
# An appeal to the tribunal against a decision not to assess or not to issue: 2 months from
# the decision letter (First-tier Tribunal HESC Rules r. 20(1); CoP 11.45).
APPEAL_MONTHS = 2


def weeks_after(day: date, weeks: int) -> date:
    return day + timedelta(weeks=weeks)


# ----- the floor under a trust's policy -----------------------------------------------------


@dataclass(frozen=True)
class Floor:
    """A statutory limit on one `[deadlines]` setting: `at_most` (a period the policy may
    shorten) or `at_least` (notice the policy may lengthen)."""

    limit: int | str
    bound: Literal["at_most", "at_least"]
    statute: str

    def looser(self, value: int | str) -> bool:
        if self.bound == "at_most":
            return value > self.limit  # type: ignore[operator]
        return value < self.limit  # type: ignore[operator]


FLOORS: dict[str, Floor] = {
    "annual_review_interval_months": Floor(
        12, "at_most", "CFA 2014 s.44(1): reviewed at least every 12 months"
    ),
    "annual_review_notice_days": Floor(
        14, "at_least", "SEND Regs 2014 reg. 20(4): at least two weeks' notice of the meeting"
    ),
    "annual_review_papers_days_before": Floor(
        14, "at_least", "SEND Regs 2014 reg. 20(3)(b): advice circulated two weeks before"
    ),
    "annual_review_report_days": Floor(
        14, "at_most", "SEND Regs 2014 reg. 20(7): the report within two weeks of the meeting"
    ),
    "la_information_request_days": Floor(
        42, "at_most", "SEND Regs 2014 reg. 8(1): advice within six weeks of the LA's request"
    ),
    # Month-days compare as MM-DD strings: earlier in the calendar year is stricter.
    "phase_transfer_review_by": Floor(
        "02-15", "at_most", "SEND Regs 2014 reg. 18(1)(a): amended by 15 February"
    ),
    "post16_transfer_review_by": Floor(
        "03-31", "at_most", "SEND Regs 2014 reg. 18(1)(b): amended by 31 March"
    ),
    "records_transfer_school_days": Floor(
        15,
        "at_most",
        "Education (Pupil Information) (England) Regs 2005 reg. 9(3): within 15 school days",
    ),
    "subject_access_months": Floor(1, "at_most", "UK GDPR art. 12(3): within one month"),
}
