"""The error table: one row per code, categories by number range, certainty where it matters."""

from __future__ import annotations

from protocol.errors import ERROR_TABLE, ErrorCategory, ErrorCode, category_of, error_spec


def test_every_code_has_a_row_with_a_meaning() -> None:
    assert set(ERROR_TABLE) == set(ErrorCode)
    assert all(spec.meaning for spec in ERROR_TABLE.values())


def test_categories_follow_the_number_ranges() -> None:
    assert category_of(ErrorCode.OK) is ErrorCategory.SUCCESS
    assert category_of(ErrorCode.MALFORMED_PAYLOAD) is ErrorCategory.FRAME
    assert category_of(ErrorCode.BAD_TAG) is ErrorCategory.AUTHENTICATION
    assert category_of(ErrorCode.PAIRING_WINDOW_CLOSED) is ErrorCategory.AUTHENTICATION
    assert category_of(ErrorCode.STALE_VERSION) is ErrorCategory.REQUEST
    assert category_of(ErrorCode.DOSE_ABOVE_HARD_LIMIT) is ErrorCategory.CLINICAL
    assert category_of(ErrorCode.MEMORY_ERROR) is ErrorCategory.INTERNAL


def test_only_the_pumps_own_failures_and_interrupted_or_evicted_requests_are_uncertain() -> None:
    uncertain = {code for code, spec in ERROR_TABLE.items() if not spec.certain}
    assert uncertain == {
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.MEMORY_ERROR,
        ErrorCode.REQUEST_INTERRUPTED,
        ErrorCode.REQUEST_EVICTED,
    }


def test_an_unknown_code_from_a_newer_peer_is_treated_as_an_uncertain_internal_error() -> None:
    assert error_spec(999).code is ErrorCode.INTERNAL_ERROR
    assert not error_spec(999).certain
