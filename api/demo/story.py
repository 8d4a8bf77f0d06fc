"""One pupil's story: the graduated response as far as it goes, with asides."""

from __future__ import annotations

import contextlib
import random
from datetime import date, timedelta

from api.demo.clock import StoryEnds, When, school_day, weekday
from api.demo.steps import Steps
from api.demo.world import (
    ACADEMIES,
    AGENCIES,
    BRIEF_NOTES,
    CONCERNS,
    DEMO_TODAY,
    EVIDENCE,
    IMPORTED_HISTORY,
    NEEDS_BY_AREA,
    VOICES,
    staff,
)
from domain.pupil import Pupil
from domain.values import (
    AgencyKind,
    AgreementKind,
    AreaOfNeed,
    AssessmentDecision,
    ConcernSource,
    DisclosurePurpose,
    DslDecision,
    ExamArrangement,
    IssueDecision,
    NeedType,
    Participant,
    PlanKind,
    Provenance,
    Recorder,
    RegisterStatus,
    ReviewRecommendation,
    Role,
    SmartOutcome,
    SubFlag,
    TargetOutcome,
    TargetReview,
    TransitionKind,
    add_months,
    school_year,
)

# Who wrote the entries in the provision map, as it names them (people, not staff ids).
FORMER_SENDCOS = ("J. Okafor", "R. Pennington", "S. Mistry", "H. Lowther")


class Story(Steps):
    """One pupil's history, told as far as DEMO_TODAY allows."""

    # ----- the story ---------------------------------------------------------------------

    def tell(self) -> Pupil:
        depth = self.rng.choices([0, 1, 2, 3], weights=[20, 30, 35, 15])[0]
        asides = (
            (self._safeguarding, 0.1), (self._secondary_need, 0.25), (self._exam_access, 0.5),
            (self._transition, 0.6), (self._tribunal, 0.25), (self._transfer, 0.06),
            (self._subject_access, 0.04), (self._leave, 0.05),
        )  # fmt: skip
        self.asides = [aside for aside, chance in asides if self.rng.random() < chance]
        self._imported_history()
        with contextlib.suppress(StoryEnds):  # the story is still unfolding, or over
            if self.arrived_with_plan:
                self._support(ehcp=True)
                self._ehc_plan_from_previous_setting()
                self._annual_reviews()
            else:
                self._graduated_response(depth)
            for _ in range(3):
                self.clock.next(30, 120)
                self._interlude()
        return self.pupil

    def _imported_history(self) -> None:
        """On joining: some pupils have a named key worker; a few are taught a year below
        their chronological year group (`YearGroupChanged`); some pupils' earlier SEND
        history came from the trust's provision map, imported the day they were registered
        (`chronicle import history`), now and then with a pointer to a CPOMS record. Drawn
        from an RNG of its own, so the rest of the demo is the same with or without it."""
        rng = random.Random(f"history:{self.pupil.id}")
        joined = self.pupil.registered_on
        if rng.random() < 0.2:  # a named key worker from the start: one of the teachers
            teacher = staff(self.academy, Role.TEACHER, rng.randint(1, 6)).staff_id
            self.pupil.assign_key_worker(key_worker=teacher, **self._imported_on(joined))
        year = self.pupil.year_group
        if rng.random() < 0.05 and year > (0 if self.academy.phase == "primary" else 7):
            self.pupil.change_year_group(
                year_group=year - 1,
                reason="Taught a year below their chronological year group from joining, as "
                "at their previous school (agreed with parents)",
                **self._imported_on(joined),
            )
        earliest = max(self.pupil.date_of_birth + timedelta(days=4 * 365), joined - timedelta(700))
        if rng.random() >= 0.1 or earliest >= joined:
            return
        days = sorted(
            min(weekday(earliest + timedelta(days=rng.randint(0, (joined - earliest).days - 1))),
                joined)
            for _ in range(rng.randint(1, 3))
        )  # fmt: skip
        for n, day in enumerate(days):
            kind, title, details = rng.choice(IMPORTED_HISTORY)
            self.pupil.import_history_entry(
                kind=kind,
                title=title,
                details=details,
                imported_from=Provenance(
                    "Provision Map", f"PM-{rng.randint(10000, 99999)}-{n}",
                    rng.choice(FORMER_SENDCOS), f"{day:%d/%m/%Y} 15:{n:02d}",
                ),
                **self._imported_on(day),
            )  # fmt: skip
        if rng.random() < 0.2:
            log_id = f"CP-{days[0].year}-{rng.randint(100, 99999):05d}"
            self.pupil.import_safeguarding_reference(
                policy=self.policy,
                cpoms_log_id=log_id,
                imported_from=Provenance("CPOMS", log_id, "", f"{days[0]:%Y-%m-%d} 10:15"),
                **self._imported_on(days[0]),
            )

    def _imported_on(self, day: date) -> When:
        """Dated when it happened in the source, recorded just after the registration."""
        self.clock.last += timedelta(minutes=1)
        return When(recorded_by=self.sendco, happened_on=day, recorded_at=self.clock.last)

    def _graduated_response(self, depth: int) -> None:
        self._concerns()
        if depth >= 1 and self._can_move(RegisterStatus.MONITORING):
            self._move(RegisterStatus.MONITORING, "Concern logged; adjustments to be monitored.")
            self._monitoring_review()
            if depth == 1 and self.rng.random() < 0.3:
                self._move(RegisterStatus.NONE, "Good progress; no longer monitored.")
        self._interlude()
        if depth >= 2:
            self._support(ehcp=False)
            self._apdr_cycles(self.rng.randint(1, 4))
        if depth == 2 and self.rng.random() < 0.15:
            self._step_down()
        if depth >= 3:
            self._ehc_needs_assessment()
            self._annual_reviews()

    def _monitoring_review(self) -> None:
        """A review on the monitoring register, before the policy's interval runs out."""
        interval = self.policy.deadlines.monitoring_review_interval_days or 61
        self.pupil.review_monitoring(
            policy=self.policy,
            findings=self.rng.choice(
                [
                    "Progress with adjustments; stays on monitoring.",
                    "Gap narrowing; keep monitoring.",
                ]
            ),
            **self._on(self.clock.next(max(1, interval - 30), max(1, interval - 10))),
        )

    def _interlude(self) -> None:
        """Between chapters, now and then, one of the rarer entries of this pupil's story;
        an aside that does not fit yet (exam access before Year 6) waits for a later one."""
        for aside in list(self.asides):
            if self.rng.random() < 0.5 and aside():
                self.asides.remove(aside)

    # ----- chapters ----------------------------------------------------------------------

    def _concerns(self) -> None:
        for n in range(self.rng.randint(1, 3)):
            day = self.clock.next(14, 60)
            self.pupil.raise_concern(
                source=self.rng.choice([ConcernSource.TEACHER, ConcernSource.PARENT]),
                area_of_need=self.area,
                description=self.rng.choice(CONCERNS[self.area]),
                evidence=self.rng.choice(EVIDENCE),
                **self._on(day, self.teacher),
            )
            if n == 0 and self.policy.concerns.copy_to_parents:
                self._disclose(
                    "Parents/carers", DisclosurePurpose.COPY_TO_PARENTS,
                    "Notes of the first discussion copied to parents (trust SEND policy)",
                    "UK GDPR art. 6(1)(e); the trust's SEND policy", day,
                )  # fmt: skip
        if self.rng.random() < 0.15:
            self.pupil.correct_entry(
                corrects_seq=2,
                what_was_wrong="The concern was dated on the day it was typed up.",
                correction="The concern was first raised at parents' evening a week earlier.",
                reason="Date corrected after checking the class teacher's notes.",
                **self._on(self.clock.next(1, 20)),
            )

    def _support(self, *, ehcp: bool) -> None:
        """Primary need, agreement, SEN support (NSA at first, where the policy uses it)."""
        day = self.clock.next(20, 80)
        self.pupil.record_need(
            need=self.rng.choice(NEEDS_BY_AREA[self.area]),
            primary=True,
            notes="Identified at the assess stage of the APDR cycle.",
            **self._on(day),
        )
        self._sign(AgreementKind.SEND_SUPPORT, self.clock.next(1, 10))
        if ehcp:
            return
        nsa = self._flag_allowed(SubFlag.NSA) and self.rng.random() < 0.5
        self._move(
            RegisterStatus.SEN_SUPPORT,
            "Little progress despite targeted intervention; SEN support.",
            (SubFlag.NSA,) if nsa else (),
        )
        self._agree_main_plan()
        if self.rng.random() < 0.25:
            self._agree_support_plan()

    def _apdr_cycles(self, cycles: int) -> None:
        for n in range(cycles):
            if n == 1 and self.rng.random() < 0.6:
                self._outside_professional()
            self._review(closes=False)
            if n == 0 and self.area == AreaOfNeed.SEMH and self.rng.random() < 0.3:
                self._reduced_timetable()
            self._interlude()

    def _outside_professional(self) -> None:
        agency, service = AGENCIES[self.area]
        self._sign(AgreementKind.EXTERNAL_PROFESSIONALS, self.clock.next(5, 20))
        self.pupil.involve_agency(
            agency=agency,
            service=f"{self._la()} {service}",
            professional=None,
            reason="Internal support has not been effective over two review cycles.",
            **self._on(self.clock.next(10, 40)),
        )
        self.pupil.receive_advice(
            agency=agency,
            service=f"{self._la()} {service}",
            professional=None,
            summary="Assessment report received; strengths and needs summarised for staff.",
            recommendations=("Chunk instructions and check understanding", "Pre-teach vocabulary"),
            **self._on(self.clock.next(30, 70)),
        )
        if self._flag_allowed(SubFlag.SPECIALIST_SEND_SUPPORT):
            self._move(
                RegisterStatus.SEN_SUPPORT,
                "An outside professional is now involved: specialist SEND support.",
                (SubFlag.SPECIALIST_SEND_SUPPORT,),
            )

    def _step_down(self) -> None:
        self._review(closes=True)
        for status in (RegisterStatus.MONITORING, RegisterStatus.NONE):
            if self.policy.allows_transition(self.pupil.status, status):
                self._move(status, "Outcomes achieved; support no longer needed.")
                return

    def _ehc_needs_assessment(self) -> None:
        """The statutory path, each step inside its clock: the LA's decision to assess (six
        weeks), the school's answer to its request, the decision to issue (16 weeks), the
        draft and the final plan (20 weeks); a holiday may still make the LA late."""
        la = self._la()
        requested = self.clock.next(20, 60)
        self._request_assessment(requested)
        self.pupil.record_la_information_request(
            policy=self.policy,
            local_authority=la,
            information_requested="Educational advice, APDR records and the pupil's views.",
            **self._on(self.clock.next(5, 10)),
        )
        self.pupil.record_la_information_sent(
            answers_seq=self.pupil.version,
            information_sent="Educational advice, the last APDR reviews and the pupil's views.",
            **self._on(self.clock.next(10, 25)),
        )
        heard, letter = self._la_letter(requested + timedelta(weeks=5))
        self.pupil.record_assessment_decision(
            local_authority=la,
            decision=AssessmentDecision.ASSESS,
            letter_dated=letter,
            la_reference=self._la_reference(),
            **self._on(heard),
        )
        agency, service = AGENCIES[self.area]
        self.pupil.receive_advice(
            agency=AgencyKind.EDUCATIONAL_PSYCHOLOGIST if self.rng.random() < 0.7 else agency,
            service=f"{la} {service}",
            professional=None,
            summary="Statutory advice for the EHC needs assessment.",
            recommendations=("Small-group teaching for core subjects",),
            **self._on(self.clock.next(5, 20)),
        )
        if self.rng.random() < 0.5:  # some LAs write to say so before the draft comes
            heard, letter = self._la_letter(requested + timedelta(weeks=13))
            self.pupil.record_issue_decision(
                local_authority=la,
                decision=IssueDecision.ISSUE,
                letter_dated=letter,
                la_reference=self._la_reference(),
                **self._on(heard),
            )
        heard, letter = self._la_letter(requested + timedelta(weeks=14))
        self.pupil.record_draft_plan(
            local_authority=la,
            letter_dated=letter,
            la_reference=self._la_reference(),
            setting_named=self.academy.name,
            **self._on(heard),
        )
        self._issue_plan(self.clock.to(requested + timedelta(weeks=19)), transferred_from=None)
        self._move(RegisterStatus.EHCP, "EHC plan issued by the local authority.")
        self._interlude()

    def _la_letter(self, around: date) -> tuple[date, date]:
        """The day the school heard of an LA decision, and the date of its letter."""
        heard = self.clock.to(around)
        return heard, max(self.pupil.ehc.requested_on or heard, heard - timedelta(days=2))

    def _la_reference(self) -> str:
        return f"EHC-{self.academy.la_code}-{self.rng.randint(10000, 99999)}"

    def _ehc_plan_from_previous_setting(self) -> None:
        self._issue_plan(self.clock.next(1, 10), transferred_from="Previous setting (out of trust)")
        self._move(RegisterStatus.EHCP, "Joined with an EHC plan issued by the home LA.")

    def _annual_reviews(self) -> None:
        assert self.pupil.ehc.issued_on is not None
        due = add_months(self.pupil.ehc.issued_on, 12)
        while True:
            held = self._annual_review(due)
            amend = self.rng.random() < 0.3
            heard, letter = self._la_letter(held + timedelta(weeks=3))
            self.pupil.record_review_decision(
                local_authority=self._la(),
                decision=ReviewRecommendation.AMEND if amend else ReviewRecommendation.MAINTAIN,
                letter_dated=max(letter, held),
                la_reference=None,
                **self._on(heard),
            )
            if amend:
                self._amend("Annual review recommendation", phase_transfer=False)
            self._interlude()
            if self.rng.random() < 0.1:
                self._cease()
                return
            due = add_months(held, 12)

    def _annual_review(self, due: date) -> date:
        deadlines, pupil = self.policy.deadlines, self.pupil
        notice = self.clock.to(due - timedelta(days=35 + self.rng.randint(0, 7)))
        meeting = school_day(notice + timedelta(days=deadlines.annual_review_notice_days + 3))
        pupil.schedule_annual_review(
            policy=self.policy,
            meeting_on=meeting,
            invitees=("Parents/carers", f"{self._la()} SEN team", "Class teacher", "SENDCo"),
            notice_given_on=notice,
            **self._on(notice),
        )
        papers = meeting - timedelta(days=deadlines.annual_review_papers_days_before)
        circulated = self.clock.to(papers)
        pupil.circulate_annual_review_papers(
            circulated_to=("Parents/carers", f"{self._la()} SEN team", "Class teacher"),
            **self._on(circulated),
        )
        held = self.clock.to(meeting)
        voice = self.rng.choice(VOICES)
        pupil.hold_annual_review(
            policy=self.policy,
            attendees=("Parents/carers", "Class teacher", "SENDCo", "Pupil"),
            papers_circulated_on=circulated,
            pupil_voice=voice[0],
            parent_voice=voice[1],
            recommendation=self.rng.choice(
                [ReviewRecommendation.MAINTAIN, ReviewRecommendation.AMEND]
            ),
            **self._on(held),
        )
        pupil.send_annual_review_report(
            sent_to=(f"{self._la()} SEN team", "Parents/carers", "Every invitee"),
            summary="Progress against outcomes; recommendations to the local authority.",
            **self._on(self.clock.next(3, max(3, deadlines.annual_review_report_days - 2))),
        )
        return held

    def _reduced_timetable(self) -> None:
        if not self.policy.uses_plan_kind(PlanKind.INTERIM_REDUCED_TIMETABLE):
            return
        self._sign(AgreementKind.INTERIM_REDUCED_TIMETABLE, self.clock.next(1, 5))
        day = self.clock.next(1, 5)
        plan = self.pupil.agree_plan(
            policy=self.policy,
            kind=PlanKind.INTERIM_REDUCED_TIMETABLE,
            outcomes=(
                SmartOutcome("Attends full days", "Attendance register", day + timedelta(days=42)),
            ),
            provision="Mornings only for two weeks, then an afternoon added each week.",
            review_on=day + timedelta(days=14),
            agreed_by=(Participant.PARENT, Participant.PRINCIPAL, Participant.HEAD_OF_INCLUSION),
            la_informed_on=day,
            plan_id=self._id(),
            **self._on(day),
        )
        self.pupil.review_plan(
            plan_id=plan,
            outcomes=(TargetReview("Attends full days", TargetOutcome.ACHIEVED),),
            pupil_voice="I am OK staying all day now.",
            parent_voice="Relieved; the build-up worked.",
            next_steps="Back to a full timetable; key adult check-ins continue.",
            next_review_on=None,
            closes_plan=True,
            **self._on(self.clock.next(28, 42)),
        )

    # ----- asides: each says whether it fitted the story at this point ---------------------

    def _safeguarding(self) -> bool:
        dsl = staff(self.academy, Role.DSL)
        if self.rng.random() < 0.3:
            # The DSL looked at a concern and decided it is not a safeguarding matter.
            self.pupil.cross_reference_safeguarding(
                policy=self.policy,
                cpoms_log_id="",
                note="The DSL reviewed the concern: not a safeguarding matter.",
                dsl_decision=DslDecision.NOT_SAFEGUARDING,
                decided_by=dsl.staff_id,
                **self._on(self.clock.next(1, 30), dsl),
            )
            return True
        logged = [d for d in DslDecision if d != DslDecision.NOT_SAFEGUARDING]
        self.pupil.cross_reference_safeguarding(
            policy=self.policy,
            cpoms_log_id=f"CP-{self.clock.day.year}-{self.rng.randint(100, 99999):05d}",
            note=self.rng.choice(BRIEF_NOTES),
            dsl_decision=self.rng.choice(logged),
            decided_by=dsl.staff_id,
            **self._on(self.clock.next(1, 30)),
        )
        return True

    def _secondary_need(self) -> bool:
        if self.pupil.primary_need is None:
            return False
        need = self.rng.choice([n for n in NeedType if n not in self.pupil.needs])
        self.pupil.record_need(
            need=need, primary=False, notes="Noted at review.", **self._on(self.clock.next(5, 30))
        )
        if self.rng.random() < 0.5:
            self.pupil.withdraw_need(
                need=need,
                reason="No longer a barrier to learning after a term of support.",
                **self._on(self.clock.next(60, 150)),
            )
        return True

    def _exam_access(self) -> bool:
        year = self._year()
        if year not in (5, 6, 9, 10, 11) or self.pupil.status.census_code == "N":
            return False
        day = self.clock.next(5, 30)
        if self.policy.uses_plan_kind(PlanKind.EXAM_ACCESS):
            self.pupil.agree_plan(
                policy=self.policy,
                kind=PlanKind.EXAM_ACCESS,
                outcomes=(),
                provision="Access arrangements as the normal way of working in class tests.",
                review_on=None,
                agreed_by=(Participant.PUPIL, Participant.PARENT, Participant.SENDCO),
                la_informed_on=None,
                plan_id=self._id(),
                **self._on(day),
            )
        self.pupil.grant_exam_access(
            policy=self.policy,
            arrangements=tuple(self.rng.sample(list(ExamArrangement), self.rng.randint(1, 3))),
            for_assessments="Key stage 2 tests" if year <= 6 else "GCSE examinations",
            evidence="Assessment by the SENDCo; the normal way of working in class.",
            **self._on(self.clock.next(1, 20)),
        )
        return True

    def _transition(self) -> bool:
        year = self._year()
        if year not in (5, 6, 10, 11) or self.pupil.status == RegisterStatus.NONE:
            return False
        if self.policy.transition.share_requires_parental_agreement:
            self._sign(AgreementKind.INFORMATION_SHARING, self.clock.next(1, 10))
        day = self.clock.next(1, 20)
        self.pupil.plan_transition(
            policy=self.policy,
            transition=TransitionKind.PHASE_TRANSFER if year <= 6 else TransitionKind.POST16,
            to_setting="Riverside Academy" if year <= 6 else "Northshire Sixth Form College",
            planned_for=date(school_year(day) + (6 if year <= 6 else 11) - year + 1, 9, 3),
            information_shared="Current plan, one-page profile and the latest review.",
            **self._on(day),
        )
        if self.pupil.ehc_plan_in_force:
            self._amend("Phase transfer: the next setting is named", phase_transfer=True)
        return True

    def _tribunal(self) -> bool:
        if not self.pupil.ehc_plan_in_force:
            return False
        dpo = Recorder("TRUST-dpo-1", Role.DPO)
        day = self.clock.next(10, 60)
        hold = self.pupil.place_legal_hold(
            reason="SEND tribunal appeal lodged by parents against the content of the plan.",
            requested_by="Trust governance lead",
            hold_id=self._id(),
            **self._on(day, dpo),
        )
        self._disclose(
            "First-tier Tribunal (SEND)", DisclosurePurpose.SEND_TRIBUNAL_APPEAL,
            "Evidence bundle for the appeal", "SEND Regulations 2014; UK GDPR art. 6(1)(c)",
            self.clock.next(5, 20),
        )  # fmt: skip
        self.pupil.lift_legal_hold(
            hold_id=hold,
            reason="Appeal decided; no further proceedings.",
            **self._on(self.clock.next(90, 180), dpo),
        )
        return True

    def _subject_access(self) -> bool:
        """Parents ask for the record (answered within the month), and sometimes ask for an
        early entry to be erased, which the trust must refuse: it keeps the record."""
        if len(self.pupil.kinds) < 4:
            return False
        dpo = Recorder("TRUST-dpo-1", Role.DPO)
        reference = f"SAR-{self.clock.day.year}-{self.rng.randint(1, 999):03d}"
        received = self.clock.next(5, 20)
        self.pupil.request_subject_access(
            request_reference=reference, requester_relationship="parent", **self._on(received, dpo)
        )
        # Now and then a complex request: the DPO extends it the day it arrives (its own
        # RNG, so the rest of the demo is the same with or without it).
        if random.Random(f"sar:{self.pupil.id}").random() < 0.5:
            self.clock.last += timedelta(minutes=5)
            self.pupil.extend_subject_access(
                request_seq=self.pupil.version,
                reason="Records across two academies and three outside agencies to review",
                recorded_by=dpo, happened_on=received, recorded_at=self.clock.last,
            )  # fmt: skip
        self._disclose(
            "Parents/carers", DisclosurePurpose.SUBJECT_ACCESS,
            f"Response to subject access request {reference}",
            "UK GDPR art. 15", self.clock.next(5, 25),
        )  # fmt: skip
        if self.rng.random() < 0.5:
            self.pupil.refuse_erasure(
                entry_seq=2,
                request_reference=reference,
                requester_relationship="parent",
                reason="The entry is part of the pupil's SEND record, which the trust must "
                "keep until the pupil is 25; the parents' view is added beside it.",
                legal_basis="UK GDPR art. 17(3)(b); SEND Code of Practice 2015, 6.79-6.80",
                **self._on(self.clock.next(5, 15), dpo),
            )
        return True

    def _transfer(self) -> bool:
        here = self.pupil.academy
        others = [a.code for a in ACADEMIES if a.phase == self.academy.phase and a.code != here]
        if not others:
            return False
        self.pupil.transfer_within_trust(
            to_academy=self.rng.choice(others),
            reason="Family moved house within the trust's area.",
            **self._on(self.clock.next(20, 120)),
        )
        return True

    def _leave(self) -> bool:
        left = self.clock.next(20, 120)
        sent = weekday(left + timedelta(days=self.rng.randint(1, 4)))
        acknowledged = weekday(sent + timedelta(days=self.rng.randint(1, 3)))
        complete = acknowledged < DEMO_TODAY
        self.pupil.leave_trust(
            policy=self.policy,
            destination=self.rng.choice(["Westmoor Academy, Eastshire", "Elective home education"]),
            records_sent_on=sent if complete else None,
            receipt_acknowledged_on=acknowledged if complete else None,
            receipt_acknowledged_by="Receiving SENDCo" if complete else None,
            recorded_by=self.sendco,
            happened_on=left,
            recorded_at=self.clock.recorded(acknowledged if complete else left),
        )
        if complete and self.rng.random() < 0.5:
            # Back after a few weeks elsewhere: the record reopens where the pupil rejoins.
            self.pupil.rejoin(
                academy=self.academy.code,
                year_group=self._year(),
                returned_from="Westmoor Academy, Eastshire",
                **self._on(self.clock.to(acknowledged + timedelta(days=self.rng.randint(20, 60)))),
            )
            return True
        raise StoryEnds
