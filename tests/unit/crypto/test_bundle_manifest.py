"""chronicle-export/2 without a database: strict JSON, the manifest's comparison, what the
verdict says about anchoring, and version 1 bundles still verifying as version 1."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto.bundle_check import Unreadable, verify_bundle
from crypto.chain import log_id, sign_checkpoint
from crypto.manifest import first_difference, manifest_of, sign_manifest
from crypto.signing import public_key_hex
from crypto.strict_json import DuplicateKey, NotStrictJSON, loads_strict

ROOT = Path(__file__).resolve().parents[3]
V2_TEXT = (ROOT / "docs" / "examples" / "export-example.json").read_text()
V1_TEXT = (Path(__file__).parent / "testdata" / "export-v1.json").read_text()
KEY = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
EXAMPLE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def v2() -> dict[str, Any]:
    return json.loads(V2_TEXT)  # type: ignore[no-any-return]


def v1() -> dict[str, Any]:
    return json.loads(V1_TEXT)  # type: ignore[no-any-return]


class TestStrictJSON:
    def test_a_duplicate_key_at_any_depth_is_refused(self) -> None:
        assert loads_strict('{"a": {"b": 1}, "c": [{"d": 2}]}') == {"a": {"b": 1}, "c": [{"d": 2}]}
        for text, key in (('{"a": 1, "a": 1}', "a"), ('{"x": [{"d": 1, "e": 2, "d": 3}]}', "d")):
            with pytest.raises(DuplicateKey, match=repr(key)):
                loads_strict(text)

    @pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
    def test_non_json_constants_are_refused(self, constant: str) -> None:
        with pytest.raises(NotStrictJSON):
            loads_strict(f'{{"size": {constant}}}')
        with pytest.raises(Unreadable):
            verify_bundle(f'{{"size": {constant}}}')

    def test_a_duplicate_key_in_a_bundle_fails_and_is_named(self) -> None:
        doubled = V2_TEXT.replace('"time": ', '"time": "2020-01-01T00:00:00Z",\n "time": ', 1)
        verdict = verify_bundle(doubled, KEY)
        assert verdict.failure is not None and verdict.failure.check == "duplicate key"
        assert "'time'" in verdict.failure.message
        assert verify_bundle(V2_TEXT.encode(), KEY).valid  # bytes and text alike

    def test_text_that_is_not_json_is_unreadable(self) -> None:
        with pytest.raises(Unreadable):
            verify_bundle(b"{not json")
        with pytest.raises(Unreadable):
            verify_bundle(b"\xff\xfe\xfa")


class TestFirstDifference:
    @pytest.mark.parametrize(
        ("signed", "claimed", "path"),
        [
            ({"a": 1}, {"a": 1}, None),
            ({"a": 1}, {"a": True}, "a"),  # JSON types differ even where Python's == agrees
            ({"a": 1}, {}, "a"),
            ({}, {"b": None}, "b"),
            ({"s": {"r": [1, 2]}}, {"s": {"r": [1]}}, "s.r"),
            ({"e": [{"w": None}, {"w": "x"}]}, {"e": [{"w": None}, {"w": "y"}]}, "e[1].w"),
            ({"a": None}, {"a": {}}, "a"),
        ],
    )
    def test_names_the_first_place_that_differs(
        self, signed: Any, claimed: Any, path: str | None
    ) -> None:
        assert first_difference(signed, claimed) == path


class TestVersion2:
    def test_the_example_verifies_anchored_and_not_anchored(self) -> None:
        anchored = verify_bundle(v2(), KEY)
        assert anchored.valid and anchored.anchored and anchored.version == 2
        alone = verify_bundle(v2())
        assert alone.valid and not alone.anchored and alone.public_key == KEY

    def test_the_manifest_is_what_the_bundle_says(self) -> None:
        bundle = v2()
        assert bundle["manifest"] == manifest_of(bundle)
        assert [e["withheld"] for e in bundle["manifest"]["entries"]] == [
            None,
            None,
            "third-party information",
            None,
        ]

    @pytest.mark.parametrize(
        ("field", "value", "check"),
        [
            ("purpose", "copy_to_parents", "purpose"),
            ("recipient", "Someone", "recipient"),
            ("time", "2030-01-01T00:00:00Z", "time"),
            ("legal_basis", "consent", "legal_basis"),
            ("policy", "The Harmony Trust", "policy"),
            ("exported_by", {"staff_id": "x", "role": "sendco"}, "exported_by.staff_id"),
            ("access_log", {"stream": "x", "events": []}, "access log"),
            ("subject_access", {"request_seq": 1}, "subject_access"),
        ],
    )
    def test_a_changed_or_added_field_is_named(self, field: str, value: Any, check: str) -> None:
        bundle = v2()
        bundle[field] = value
        failure = verify_bundle(bundle, KEY).failure
        assert failure is not None and failure.check == check, failure

    def test_a_withheld_entry_shown_or_a_shown_one_withheld_is_named(self) -> None:
        bundle = v2()
        bundle["manifest"]["entries"][1]["withheld"] = "because"
        bundle["manifest_signature"] = sign_manifest(EXAMPLE_KEY, bundle["manifest"])
        failure = verify_bundle(bundle, KEY).failure
        assert failure is not None and (failure.check, failure.seq) == ("withheld", 2)
        assert "withheld in the signed manifest" in failure.message

    def test_a_manifest_signed_by_another_key_than_the_bundles_fails(self) -> None:
        bundle = v2()
        bundle["manifest_signature"] = sign_manifest(
            Ed25519PrivateKey.generate(), bundle["manifest"]
        )
        failure = verify_bundle(bundle).failure
        assert failure is not None and failure.check == "manifest signature"

    def test_re_signed_wholly_by_another_key_it_is_valid_only_not_anchored(self) -> None:
        forger = Ed25519PrivateKey.generate()
        bundle = v2()
        bundle["recipient"] = "A newspaper"
        bundle["public_key"] = public_key_hex(forger)
        bundle["checkpoint"]["log"] = log_id(bundle["public_key"])
        bundle["signature"] = sign_checkpoint(forger, bundle["checkpoint"])
        bundle["manifest"] = manifest_of(bundle)
        bundle["manifest_signature"] = sign_manifest(forger, bundle["manifest"])
        alone = verify_bundle(bundle)
        assert alone.valid and not alone.anchored and alone.public_key == bundle["public_key"]
        failure = verify_bundle(bundle, KEY).failure
        assert failure is not None and failure.check == "public key"

    def test_sign_manifest_signs_nothing_but_a_manifest(self) -> None:
        checkpoint = v2()["checkpoint"]
        with pytest.raises(ValueError, match="manifest"):
            sign_manifest(EXAMPLE_KEY, checkpoint)
        with pytest.raises(ValueError, match="exactly the fields"):
            sign_manifest(EXAMPLE_KEY, {"format": "chronicle-export/2"})

    def test_a_checkpoint_with_more_fields_is_refused(self) -> None:
        bundle = v2()
        bundle["checkpoint"]["note"] = "x"
        failure = verify_bundle(bundle, KEY).failure
        assert failure is not None and failure.check == "checkpoint"


class TestVersion1:
    def test_a_version_1_bundle_verifies_as_version_1(self) -> None:
        verdict = verify_bundle(v1(), KEY)
        assert verdict.valid and verdict.version == 1 and verdict.format == "chronicle-export/1"
        assert verdict.events == 4 and verdict.redacted == 1 and verdict.anchored

    def test_version_1_never_signed_its_purpose(self) -> None:
        # The reason for version 2: in version 1 this change goes unnoticed, and the
        # verdict's version says so (the CLI prints it).
        bundle = v1()
        bundle["purpose"] = "anything"
        verdict = verify_bundle(bundle, KEY)
        assert verdict.valid and verdict.version == 1

    def test_a_withheld_entry_with_a_payload_fails_in_version_1_too(self) -> None:
        bundle = v1()
        bundle["events"][2]["payload"] = {"description": "FORGED"}
        failure = verify_bundle(bundle, KEY).failure
        assert failure is not None and (failure.check, failure.seq) == ("withheld entry", 3)

    def test_an_unknown_format_is_unreadable(self) -> None:
        bundle = copy.deepcopy(v1())
        bundle["format"] = "chronicle-export/3"
        with pytest.raises(Unreadable):
            verify_bundle(bundle)
