"""The chronology read: order, filters, corrections attached, masking by role, and only the
chosen entries decrypted. One SQLite store per test; the runner keeps the index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from api.application import PupilRecords
from crypto.kek import InMemoryKekRing
from domain.errors import PupilPurged
from domain.policy import TrustPolicy
from domain.pupil import Pupil
from domain.values import AreaOfNeed, ConcernSource, DslDecision, NeedType
from projections.chronology import (
    ChronologyIndex,
    ChronologyQueryError,
    UnknownPupil,
    chronology,
)
from projections.runner import ProjectionRunner
from tests.factories import DEFAULT, DSL, SENDCO, TEACHER, a_pupil, agree, on, policy


@pytest.fixture
def records(tmp_path: Path) -> Iterator[PupilRecords]:
    app = PupilRecords(database_url=f"sqlite:///{tmp_path}/c.db", ring=InMemoryKekRing())
    yield app
    app.close()


def save(records: PupilRecords, pupil: Pupil, trust: TrustPolicy = DEFAULT) -> None:
    records.save(pupil)
    ProjectionRunner(records, [ChronologyIndex(trust)]).catch_up()


def concern(
    pupil: Pupil, day: date, area: AreaOfNeed | None, *, recorded: date | None = None
) -> None:
    pupil.raise_concern(
        source=ConcernSource.TEACHER,
        area_of_need=area,
        description=f"Concern of {day}",
        evidence="Observation",
        recorded_by=TEACHER,
        happened_on=day,
        recorded_at=datetime.combine(recorded or day, time(16), tzinfo=UTC),
    )


def cross_reference(pupil: Pupil, day: date) -> None:
    pupil.cross_reference_safeguarding(
        policy=DEFAULT,
        cpoms_log_id="CP-2025-00417",
        note="A CPOMS log exists; ask the DSL before contacting home.",
        dsl_decision=DslDecision.EARLY_HELP,
        decided_by=DSL.staff_id,
        **on(day, SENDCO),
    )


def a_history() -> Pupil:
    """Registered 2024-09-04 (#1); #2 a concern of 2025-01-15 recorded a month late;
    #3 an SEMH concern of 2024-12-02; #4 SLCN recorded; #5 a plan; #6 a cross-reference;
    #7 corrects #2."""
    pupil = a_pupil(concerns=0)
    concern(pupil, date(2025, 1, 15), None, recorded=date(2025, 2, 14))
    concern(pupil, date(2024, 12, 2), AreaOfNeed.SEMH)
    pupil.record_need(need=NeedType.SLCN, primary=True, notes="Screen", **on(date(2025, 1, 20)))
    agree(pupil, date(2025, 2, 3))
    cross_reference(pupil, date(2025, 2, 10))
    pupil.correct_entry(
        corrects_seq=2,
        what_was_wrong="Dated the day it was typed up",
        correction="Raised at parents' evening a week earlier",
        reason="Checked the class teacher's notes",
        **on(date(2025, 2, 20)),
    )
    return pupil


def seqs(entries: list[Any]) -> list[int]:
    return [e.seq for e in entries]


def test_entries_come_in_the_order_they_happened_or_were_recorded(
    records: PupilRecords,
) -> None:
    pupil = a_history()
    save(records, pupil)
    assert seqs(chronology(records, pupil.id)) == [1, 3, 2, 4, 5, 6, 7]
    # #2 was recorded on 14 February, after #4 to #6; the registration (#1) on 3 March.
    assert seqs(chronology(records, pupil.id, order="recorded")) == [3, 4, 5, 6, 2, 7, 1]
    first = chronology(records, pupil.id)[2]
    assert (first.happened_on, first.recorded_at) == (
        date(2025, 1, 15),
        "2025-02-14T16:00:00.000000Z",
    )
    assert first.payload is not None and first.payload["description"] == "Concern of 2025-01-15"
    assert first.recorded_by == {"staff_id": TEACHER.staff_id, "role": "teacher"}


def test_filters_by_kind_date_author_role_and_area(records: PupilRecords) -> None:
    pupil = a_history()
    save(records, pupil)
    by = chronology
    assert seqs(by(records, pupil.id, kinds=["ConcernRaised"])) == [3, 2]
    assert seqs(by(records, pupil.id, kinds=["PlanAgreed", "NeedRecorded"])) == [4, 5]
    # Both bounds are inclusive.
    assert seqs(by(records, pupil.id, since=date(2025, 1, 15), until=date(2025, 2, 3))) == [2, 4, 5]
    assert seqs(by(records, pupil.id, since=date(2025, 1, 16), until=date(2025, 2, 2))) == [4]
    assert seqs(by(records, pupil.id, author_role="teacher")) == [3, 2]
    assert seqs(by(records, pupil.id, area="semh")) == [3]
    assert seqs(by(records, pupil.id, area="communication_and_interaction")) == [4]
    assert by(records, pupil.id, kinds=["EHCPlanIssued"]) == []


def test_a_correction_is_attached_to_what_it_corrects_whatever_the_filter(
    records: PupilRecords,
) -> None:
    pupil = a_history()
    save(records, pupil)
    (corrected,) = chronology(records, pupil.id, kinds=["ConcernRaised"], until=date(2025, 1, 31))[
        1:
    ]
    assert corrected.seq == 2 and corrected.corrected_by == (7,)
    (correction,) = corrected.corrections
    assert correction.corrects_seq == 2 and correction.payload is not None
    assert correction.payload["correction"] == "Raised at parents' evening a week earlier"
    untouched = chronology(records, pupil.id, kinds=["NeedRecorded"])[0]
    assert untouched.corrected_by == () and untouched.corrections == ()


def test_a_teacher_cannot_see_a_safeguarding_note(records: PupilRecords) -> None:
    pupil = a_history()
    save(records, pupil)
    teacher = {e.seq: e for e in chronology(records, pupil.id, viewer_role="teacher")}
    note = teacher[6]
    assert note.type == "SafeguardingCrossReferenced" and note.restricted and note.masked
    assert (note.payload, note.recorded_by) == (None, None)
    assert note.happened_on == date(2025, 2, 10)
    # Kinds the policy lets teachers read come in full; others are masked too.
    assert teacher[5].payload is not None and not teacher[5].masked
    assert teacher[2].masked and not teacher[2].restricted
    dsl = {e.seq: e for e in chronology(records, pupil.id, viewer_role="dsl")}
    assert dsl[6].payload is not None and dsl[6].payload["cpoms_log_id"] == "CP-2025-00417"
    # Without a viewer (an operator's full read) nothing is masked.
    assert all(not e.masked for e in chronology(records, pupil.id))


def test_only_the_entries_shown_are_decrypted(
    records: PupilRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    pupil = a_history()
    save(records, pupil)
    opened: list[int] = []
    committed = records.sealing_mapper.committed

    def counting(stored: Any) -> Any:
        opened.append(stored.originator_version)
        return committed(stored)

    monkeypatch.setattr(records.sealing_mapper, "committed", counting)
    chronology(records, pupil.id, kinds=["ConcernRaised"])
    assert sorted(opened) == [2, 3, 7]  # the concerns and the correction attached to #2
    opened.clear()
    chronology(records, pupil.id, viewer_role="teacher")
    assert sorted(opened) == [1, 4, 5, 7]  # what a teacher may read


def test_restricted_kinds_are_the_policys(records: PupilRecords) -> None:
    base = policy("default")
    stricter = base.model_copy(
        update={
            "visibility": base.visibility.model_copy(
                update={"restricted": ("SafeguardingCrossReferenced", "ConcernRaised")}
            )
        }
    )
    pupil = a_history()
    save(records, pupil, stricter)
    flagged = [e.seq for e in chronology(records, pupil.id) if e.restricted]
    assert flagged == [3, 2, 6]


def test_the_json_shape(records: PupilRecords) -> None:
    pupil = a_history()
    save(records, pupil)
    shown = chronology(records, pupil.id, viewer_role="teacher")
    by_seq = {e.seq: e.as_json() for e in shown}
    assert set(by_seq[2]) == {
        "seq", "type", "happened_on", "recorded_at", "recorded_by", "payload", "commitment",
        "restricted", "corrected_by",
    }  # fmt: skip
    assert by_seq[2]["payload"] is None and by_seq[2]["corrected_by"] == [7]
    assert by_seq[6]["restricted"] is True
    assert len(by_seq[6]["commitment"]) == 64


def test_unknown_purged_and_misspelt(records: PupilRecords) -> None:
    pupil = a_history()
    save(records, pupil)
    with pytest.raises(UnknownPupil, match="no pupil with id"):
        chronology(records, a_pupil().id)
    with pytest.raises(ChronologyQueryError, match="unknown entry kind 'Concern'"):
        chronology(records, pupil.id, kinds=["Concern"])
    with pytest.raises(ChronologyQueryError, match="unknown role 'head'"):
        chronology(records, pupil.id, viewer_role="head")
    with pytest.raises(ChronologyQueryError, match="'feelings' is not an area of need"):
        chronology(records, pupil.id, area="feelings")
    pupil.record_purge(
        proposed_by="TRUST-dpo-1", approved_by="TRUST-dpo-2", reason="End", **on(date(2025, 3, 1))
    )
    save(records, pupil)
    records.shred(pupil.id)
    with pytest.raises(PupilPurged, match="purged on 2025-03-01"):
        chronology(records, pupil.id)
