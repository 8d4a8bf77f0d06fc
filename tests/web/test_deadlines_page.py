"""The deadlines page lists the local authority's steps apart from the school's (issue 16):
an overdue LA step is the LA's lateness, not the SENDCo's work. Both stores."""

from __future__ import annotations

from datetime import date

from tests.factories import a_pupil, primary_need, request_assessment
from tests.web.conftest import WebClient


def test_the_la_s_steps_have_their_own_table(web: WebClient) -> None:
    pupil = a_pupil(academy="OAK")
    primary_need(pupil, date(2025, 1, 13))
    request_assessment(pupil, date(2025, 1, 20))  # the LA's clocks are long overdue
    web.records.save(pupil)
    web.as_("OAK-sendco-7", "sendco")
    page = web.client.get("/ui/deadlines")
    assert page.status_code == 200, page.text
    school, _, la = page.text.partition("<h2>The local authority's steps</h2>")
    assert "LA: decide whether to carry out an EHC needs assessment" in la
    assert "LA: issue the final EHC plan" in la
    assert "LA: " not in school
    assert "Overdue by" in la
