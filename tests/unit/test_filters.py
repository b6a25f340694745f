"""Tests for sandbox.filters: parsing and evaluation of postgres_changes filters.

Expected parse results and error texts come from supabase/realtime 2.129.x
(``Extensions.PostgresCdcRls.Subscriptions`` and its doctests); expected evaluation results
were checked against ``realtime.check_equality_op`` running on a real PostgreSQL. One module for
parse and evaluate alike: most cases are a filter string with what it parses to and what it lets
through, and keeping the pairs together is the point.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import pytest

from sandbox.filters import (
    MAX_IN_VALUES,
    OPERATORS,
    Condition,
    Filter,
    FilterError,
    FilterRejectedError,
    parse_filter,
)

try:  # hypothesis is optional; a seeded random loop checks the same property without it
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_HYPOTHESIS = False
else:
    HAVE_HYPOTHESIS = True

PREFIX = "Error parsing `filter` params: "


def only(text: str) -> Condition:
    """Parse a single-condition filter and return that condition."""
    conditions = parse_filter(text).conditions
    assert len(conditions) == 1
    return conditions[0]


def check(text: str, value: object, column_type: str | None = None) -> bool:
    """Evaluate ``text`` against a record giving ``value`` (of ``column_type``) to its columns."""
    parsed = parse_filter(text)
    record = dict.fromkeys(parsed.columns, value)
    types = dict.fromkeys(parsed.columns, column_type) if column_type is not None else None
    return parsed.matches(record, types)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


class TestParseOperators:
    @pytest.mark.parametrize("op", [op for op in OPERATORS if op not in ("in", "is")])
    def test_every_scalar_operator(self, op: str) -> None:
        assert only(f"col={op}.val") == Condition("col", op, "val", False)

    @pytest.mark.parametrize("op", [op for op in OPERATORS if op not in ("in", "is")])
    def test_not_prefix_on_every_scalar_operator(self, op: str) -> None:
        assert only(f"col=not.{op}.val") == Condition("col", op, "val", True)

    def test_server_doctest_examples(self) -> None:
        assert only("subject=eq.hey") == Condition("subject", "eq", "hey", False)
        assert only("subject=not.like.hey%") == Condition("subject", "like", "hey%", True)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("null", None), ("true", True), ("false", False), ("unknown", "unknown")],
    )
    def test_is_values(self, text: str, expected: object) -> None:
        assert only(f"c=is.{text}") == Condition("c", "is", expected, False)
        assert only(f"c=not.is.{text}") == Condition("c", "is", expected, True)

    @pytest.mark.parametrize("text", ["c=is.NULL", "c=is.1", "c=is.", "c=is.nothing"])
    def test_is_rejects_other_values_like_the_subscription_trigger(self, text: str) -> None:
        with pytest.raises(FilterRejectedError) as info:
            parse_filter(text)
        assert info.value.message == (
            "invalid value for is filter: must be null, true, false, or unknown"
        )

    def test_value_may_be_empty(self) -> None:
        assert only("c=eq.") == Condition("c", "eq", "", False)


class TestParseInLists:
    def test_plain_list(self) -> None:
        assert only("status=in.(a,b,c)").value == ("a", "b", "c")

    def test_not_in(self) -> None:
        assert only("status=not.in.(a,b)") == Condition("status", "in", ("a", "b"), True)

    def test_quoted_elements_keep_commas_and_escapes(self) -> None:
        assert only('name=in.("a,b",c)').value == ("a,b", "c")
        assert only(r'name=in.("say \"hi\"",x)').value == ('say "hi"', "x")

    def test_postgres_array_rules(self) -> None:
        assert only("c=in.( a , b c )").value == ("a", "b c")
        assert only('c=in.(NULL,null,"NULL")').value == (None, None, "NULL")
        assert only("c=in.()").value == ()

    def test_list_commas_do_not_split_conditions(self) -> None:
        parsed = parse_filter("status=in.(a,b),id=gt.1")
        assert [c.column for c in parsed.conditions] == ["status", "id"]

    @pytest.mark.parametrize("text", ["c=in.a,b", "c=in.(a,b", "c=in.a)", "c=in.(", "c=in."])
    def test_parentheses_required(self, text: str) -> None:
        with pytest.raises(FilterError) as info:
            parse_filter(text)
        assert info.value.message == PREFIX + "`in` filter value must be wrapped by parentheses"

    @pytest.mark.parametrize("text", ["c=in.(a,,b)", 'c=in.("a)', "c=in.(a{b)", 'c=in.(a"b)'])
    def test_malformed_array_literal_is_rejected(self, text: str) -> None:
        with pytest.raises(FilterRejectedError, match="malformed array literal"):
            parse_filter(text)

    def test_too_many_values(self) -> None:
        ok = ",".join(str(i) for i in range(MAX_IN_VALUES))
        assert len(only(f"c=in.({ok})").value) == MAX_IN_VALUES  # type: ignore[arg-type]
        with pytest.raises(FilterRejectedError) as info:
            parse_filter(f"c=in.({ok},{MAX_IN_VALUES})")
        assert info.value.message == "too many values for `in` filter. Maximum 100"


class TestParseComposition:
    def test_comma_means_and(self) -> None:
        assert parse_filter("id=gt.0,id=lt.100").conditions == (
            Condition("id", "gt", "0", False),
            Condition("id", "lt", "100", False),
        )

    def test_segments_and_whole_filter_are_trimmed(self) -> None:
        parsed = parse_filter("  id=eq.1 ,  name=eq.x  ")
        assert parsed.conditions == (Condition("id", "eq", "1"), Condition("name", "eq", "x"))

    def test_quoted_value_keeps_comma_and_is_unquoted(self) -> None:
        assert only('name=eq."Smith, John"').value == "Smith, John"
        assert only(r'name=eq."a\"b"').value == 'a"b'

    def test_quote_only_opens_after_dot_paren_or_comma(self) -> None:
        parsed = parse_filter('name=eq.O"Brien,id=eq.1')
        assert parsed.conditions == (
            Condition("name", "eq", 'O"Brien'),
            Condition("id", "eq", "1"),
        )

    def test_malformed_quotes_are_kept_verbatim(self) -> None:
        assert only('name=eq."ab').value == '"ab'
        assert only('name=eq."a"b"').value == '"a"b"'

    @pytest.mark.parametrize(
        ("text", "column", "op", "value"),
        [
            ("email=eq.a.b@c.d", "email", "eq", "a.b@c.d"),
            ("note=eq.x=y", "note", "eq", "x=y"),
            ("url=like.https://x.io/a=b%", "url", "like", "https://x.io/a=b%"),
            ("v=eq.not.eq", "v", "eq", "not.eq"),
            ("price=gte.1.50", "price", "gte", "1.50"),
        ],
    )
    def test_values_may_contain_dots_and_equals(
        self, text: str, column: str, op: str, value: str
    ) -> None:
        assert only(text) == Condition(column, op, value, False)

    @pytest.mark.parametrize("text", [None, "", "   ", "\t\n"])
    def test_empty_filter_matches_everything(self, text: str | None) -> None:
        parsed = parse_filter(text)
        assert parsed == Filter(())
        assert parsed.matches({}) is True
        assert parsed.matches({"id": None}, {"id": "int4"}) is True

    def test_columns(self) -> None:
        assert parse_filter("a=eq.1,b=gt.2,a=lt.9").columns == {"a", "b"}
        assert parse_filter("").columns == set()


class TestParseErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            # Server doctests.
            ("undefined", '["undefined"]'),
            ("subject=foo.hey", '["foo", "hey"]'),
            # No "=": the whole segment is reported.
            ("wrong", '["wrong"]'),
            # No "." after the operator: only the right-hand side is reported.
            ("foo=hey", '["hey"]'),
            ("foo=not.hey", '["hey"]'),
            ("foo=", '[""]'),
            # Unknown operator: operator and value are reported, the column is not.
            ("id=foo.1", '["foo", "1"]'),
            ("id=EQ.1", '["EQ", "1"]'),
            ("id=not.not.eq.1", '["not", "eq.1"]'),
            ("id= eq.1", '[" eq", "1"]'),
            # Later segments are reported the same way.
            ("id=eq.1,bogus", '["bogus"]'),
        ],
    )
    def test_server_message_format(self, text: str, message: str) -> None:
        with pytest.raises(FilterError) as info:
            parse_filter(text)
        assert info.value.message == PREFIX + message
        assert str(info.value) == PREFIX + message
        assert not isinstance(info.value, FilterRejectedError)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('a"b', r'["a\"b"]'),
            ("a\\b", r'["a\\b"]'),
            ("x#{y}", r'["x\#{y}"]'),
            ("tab\there", r'["tab\there"]'),
            ("nul\x00", "[<<110, 117, 108, 0>>]"),
            ("é", '["é"]'),
        ],
    )
    def test_reported_parts_are_rendered_like_elixir_inspect(self, text: str, message: str) -> None:
        with pytest.raises(FilterError) as info:
            parse_filter(text)
        assert info.value.message == PREFIX + message

    @pytest.mark.parametrize("text", ["a=eq.1,", "a=eq.1,,b=eq.2", ",a=eq.1", "a=eq.1, ,b=eq.2"])
    def test_empty_segments(self, text: str) -> None:
        with pytest.raises(FilterError) as info:
            parse_filter(text)
        assert info.value.message == (
            PREFIX + "filter must not contain empty segments (check for extra commas)"
        )

    def test_filter_error_is_a_value_error(self) -> None:
        with pytest.raises(ValueError):
            parse_filter("wrong")


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


class TestNumeric:
    def test_int_compares_numerically_not_as_text(self) -> None:
        assert check("id=gt.9", 10, "int4") is True
        assert check("id=lt.9", 10, "int4") is False
        assert check("id=gt.9", "10", "text") is False  # same data as text: '10' < '9'

    def test_inferred_from_python_numbers(self) -> None:
        assert check("id=gt.9", 10) is True
        assert check("price=eq.1.50", 1.5) is True
        assert check("price=lt.2", 1.99) is True

    @pytest.mark.parametrize(
        ("text", "value", "column_type", "expected"),
        [
            ("c=eq. 7 ", 7, "int4", True),  # int input trims whitespace
            ("c=eq.+7", 7, "int8", True),
            ("c=eq.007", 7, "int2", True),
            ("c=eq.1.0", 1, "int4", False),  # not an integer literal
            ("c=eq.32768", 1, "int2", False),  # out of range
            ("c=eq.0x10", 16, "int4", True),  # PostgreSQL 16+ integer literal
            ("c=eq.1.0", 1, "numeric", True),
            ("c=eq.1e3", 1000, "numeric", True),
            ("c=eq.0.1", 0.1, "numeric", True),
            ("c=gt.Infinity", 1e300, "numeric", False),
            ("c=eq.0.1", 0.1, "float4", True),  # both sides rounded to single precision
            ("c=eq.1e309", 1.0, "float8", False),  # overflow is an error, not infinity
            ("c=eq.NaN", "NaN", "float8", True),  # Postgres: NaN = NaN
            ("c=gt.1e308", "NaN", "float8", True),  # and NaN sorts above everything
        ],
    )
    def test_numeric_input_rules(
        self, text: str, value: object, column_type: str, expected: bool
    ) -> None:
        assert check(text, value, column_type) is expected

    @pytest.mark.parametrize("text", ["id=eq.abc", "id=not.eq.abc", "id=gt.abc", "id=in.(1,x)"])
    def test_cast_failure_never_matches(self, text: str) -> None:
        assert check(text, 1, "int4") is False

    def test_uncastable_record_value_never_matches(self) -> None:
        for text in ("id=eq.1", "id=not.eq.1", "id=is.null", "id=not.is.null"):
            assert check(text, "abc", "int4") is False
            assert check(text, {"a": 1}, "int4") is False

    def test_in_list(self) -> None:
        assert check("id=in.(1,2,3)", 2, "int4") is True
        assert check("id=in.(1,2,3)", 4, "int4") is False
        assert check("id=not.in.(1,2,3)", 4, "int4") is True
        assert check("id=in.(1.0,2.5)", 1, "numeric") is True


class TestNullSemantics:
    @pytest.mark.parametrize(
        "text",
        [
            "c=eq.1",
            "c=neq.1",
            "c=lt.1",
            "c=gte.1",
            "c=in.(1,2)",
            "c=like.%",
            "c=ilike.%",
            "c=match..*",
            "c=imatch.x",
        ],
    )
    def test_comparisons_with_null_never_match_even_negated(self, text: str) -> None:
        negated = text.replace("=", "=not.", 1)
        for column_type in ("int4", "text", None):
            assert check(text, None, column_type) is False
            assert check(negated, None, column_type) is False

    def test_is_null(self) -> None:
        assert check("c=is.null", None, "int4") is True
        assert check("c=not.is.null", None, "int4") is False
        assert check("c=is.null", 0, "int4") is False
        assert check("c=not.is.null", 0, "int4") is True
        assert check("c=is.null", None) is True

    def test_isdistinct_is_null_safe(self) -> None:
        assert check("c=isdistinct.1", None, "int4") is True
        assert check("c=not.isdistinct.1", None, "int4") is False
        assert check("c=isdistinct.1", 1, "int4") is False
        assert check("c=isdistinct.1", 2, "int4") is True
        assert check("c=not.isdistinct.01", 1, "int4") is True

    def test_in_list_holding_null(self) -> None:
        assert check("c=in.(1,NULL)", 1, "int4") is True
        # 5 = ANY('{1,NULL}') is NULL, so neither it nor its negation matches.
        assert check("c=in.(1,NULL)", 5, "int4") is False
        assert check("c=not.in.(1,NULL)", 5, "int4") is False

    def test_empty_in_list_is_false_even_for_null(self) -> None:
        assert check("c=in.()", 1, "int4") is False
        assert check("c=not.in.()", 1, "int4") is True
        assert check("c=not.in.()", None, "int4") is True

    @pytest.mark.parametrize("text", ["c=is.null", "c=not.is.null", "c=isdistinct.1", "c=neq.1"])
    def test_missing_column_never_matches(self, text: str) -> None:
        # is_visible_through_filters requires every filter's column to be in the change,
        # e.g. a DELETE whose old record only carries the primary key.
        assert parse_filter(text).matches({"id": 1}, {"c": "int4"}) is False
        assert parse_filter(text).matches({}) is False


class TestPatterns:
    @pytest.mark.parametrize(
        ("text", "value", "expected"),
        [
            ("c=like.hel%", "hello", True),
            ("c=like.hel%", "Hello", False),
            ("c=ilike.HEL%", "hello", True),
            ("c=like.h_llo", "hello", True),
            ("c=like.h_llo", "heello", False),
            ("c=like.ell", "hello", False),  # anchored at both ends
            ("c=like.%ell%", "hello", True),
            ("c=like.%", "", True),
            ("c=like.a%", "a\nb", True),  # % spans newlines
            (r"c=like.100\%", "100%", True),
            (r"c=like.100\%", "1000", False),
            ("c=like.a*", "abc", False),  # `*` is a literal asterisk on the server
            ("c=like.a*", "a*", True),
            ("c=like.a.b", "a.b", True),
            ("c=like.a.b", "axb", False),
            ("c=not.like.hel%", "world", True),
            ("c=not.ilike.HEL%", "hello", False),
        ],
    )
    def test_like(self, text: str, value: str, expected: bool) -> None:
        assert check(text, value, "text") is expected
        assert check(text, value) is expected

    @pytest.mark.parametrize(
        ("text", "value", "expected"),
        [
            ("c=match.^hel", "hello", True),
            ("c=match.^HEL", "hello", False),
            ("c=imatch.^HEL", "hello", True),
            ("c=match.ll", "hello", True),  # unanchored search
            ("c=match.a$", "a\n", False),  # $ is end of string only
            ("c=match.a.b", "a\nb", True),  # . matches newline
            (r"c=match.\mwor", "hello world", True),
            ("c=match.[[:digit:]]+", "abc123", True),
            ("c=match.(", "(", False),  # invalid regex: server rejects, never matches
            ("c=not.match.^x", "hello", True),
        ],
    )
    def test_match(self, text: str, value: str, expected: bool) -> None:
        assert check(text, value, "text") is expected

    def test_patterns_need_a_text_column(self) -> None:
        assert check("c=like.1%", 10, "int4") is False
        assert check("c=not.like.1%", 10, "int4") is False
        assert check("c=match.1", 10) is False

    def test_citext_is_case_insensitive(self) -> None:
        assert check("c=eq.HELLO", "hello", "citext") is True
        assert check("c=like.HEL%", "hello", "citext") is True
        assert check("c=eq.HELLO", "hello", "text") is False


class TestBool:
    @pytest.mark.parametrize(
        ("literal", "expected"),
        [
            ("true", True),
            ("TRUE", True),
            ("t", True),
            ("yes", True),
            ("y", True),
            ("on", True),
            ("1", True),
            ("false", False),
            ("f", False),
            ("No", False),
            ("off", False),
            ("of", False),
            ("0", False),
        ],
    )
    def test_bool_literals(self, literal: str, expected: bool) -> None:
        assert check(f"c=eq.{literal}", expected, "bool") is True
        assert check(f"c=eq.{literal}", not expected, "bool") is False

    @pytest.mark.parametrize("literal", ["o", "maybe", "2", ""])
    def test_invalid_bool_literal_never_matches(self, literal: str) -> None:
        assert check(f"c=eq.{literal}", True, "bool") is False
        assert check(f"c=neq.{literal}", True, "bool") is False

    def test_is_true_false_unknown(self) -> None:
        assert check("c=is.true", True, "bool") is True
        assert check("c=is.true", False, "bool") is False
        assert check("c=is.false", False, "bool") is True
        assert check("c=is.unknown", None, "bool") is True
        assert check("c=is.unknown", False, "bool") is False
        # IS NOT TRUE is two-valued: NULL IS NOT TRUE holds.
        assert check("c=not.is.true", None, "bool") is True
        assert check("c=is.true", None, "bool") is False
        # Inferred from the Python value.
        assert check("c=is.true", True) is True

    def test_is_true_needs_a_boolean_column(self) -> None:
        assert check("c=is.true", "t", "text") is False
        assert check("c=not.is.true", 1, "int4") is False


class TestTemporal:
    @pytest.mark.parametrize(
        "literal",
        [
            "2024-01-01T10:00:00Z",
            "2024-01-01 10:00:00+00",
            "2024-01-01T12:00:00+02:00",
            "2024-01-01T05:00:00-05:00",
            "2024-01-01 10:00:00",  # zone-less: UTC, the server session's zone
            "2024-01-01T10:00:00.000000+00:00",
        ],
    )
    def test_timestamptz_compares_instants(self, literal: str) -> None:
        assert check(f"c=eq.{literal}", "2024-01-01T10:00:00+00:00", "timestamptz") is True

    def test_timestamptz_ordering(self) -> None:
        record = "2024-01-01 10:00:00.5+00"
        assert check("c=gt.2024-01-01T10:00:00Z", record, "timestamptz") is True
        assert check("c=lt.2024-01-01T11:00:00+02:00", record, "timestamptz") is False
        assert check("c=gte.2024-01-01", record, "timestamptz") is True
        assert check("c=lt.infinity", record, "timestamptz") is True
        assert check("c=gt.-infinity", record, "timestamptz") is True
        assert check("c=gt.yesterday-ish", record, "timestamptz") is False

    def test_timestamp_without_zone_ignores_offsets(self) -> None:
        assert check("c=eq.2024-01-01 10:00:00+05", "2024-01-01T10:00:00", "timestamp") is True
        assert check("c=lt.2024-01-01T10:00:01", "2024-01-01T10:00:00", "timestamp") is True

    def test_date(self) -> None:
        assert check("c=eq.2024-01-01", "2024-01-01", "date") is True
        assert check("c=eq.2024-01-01 23:59", "2024-01-01", "date") is True
        assert check("c=gt.2023-12-31", "2024-01-01", "date") is True
        assert check("c=eq.2024-02-30", "2024-03-01", "date") is False

    def test_time_and_timetz(self) -> None:
        assert check("c=gt.09:59:59", "10:00:00", "time") is True
        assert check("c=eq.10:00:00+00", "10:00:00+00", "timetz") is True
        # timetz equality needs the same zone, not just the same instant.
        assert check("c=eq.12:00:00+02", "10:00:00+00", "timetz") is False

    def test_without_type_timestamps_compare_as_text(self) -> None:
        assert check("c=eq.2024-01-01T10:00:00Z", "2024-01-01 10:00:00+00") is False


class TestOtherTypes:
    def test_uuid_is_case_and_format_insensitive(self) -> None:
        record = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        for literal in (
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
        ):
            assert check(f"c=eq.{literal}", record, "uuid") is True
        other = "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        assert check(f"c=in.(A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11,{other})", record, "uuid")
        assert check(f"c=in.({other})", record.upper(), "uuid") is False
        assert check("c=eq.not-a-uuid", record, "uuid") is False
        assert check("c=neq.not-a-uuid", record, "uuid") is False

    def test_text_ordering_is_by_code_point(self) -> None:
        assert check("c=lt.m", "a", "text") is True
        assert check("c=gte.z", "z", "varchar") is True
        assert check("c=lt.a", "B", "text") is True

    def test_jsonb(self) -> None:
        # Unquoted, the commas inside the JSON would split the filter, as on the server.
        literal = r'c=eq."{\"b\": [1, 2], \"a\": 1.0}"'
        assert check(literal, {"a": 1, "b": [1, 2]}, "jsonb") is True
        assert check('c=eq.{"a": true}', {"a": 1}, "jsonb") is False
        assert check("c=eq.1", {"a": 1}) is False

    def test_json_has_no_equality_operator(self) -> None:
        assert check('c=eq.{"a": 1}', {"a": 1}, "json") is False
        assert check("c=is.null", None, "json") is True

    def test_arrays(self) -> None:
        # Array literals contain commas, so they must be quoted in the filter.
        assert check('c=eq."{a,b}"', ["a", "b"], "_text") is True
        assert check('c=eq."{a,NULL}"', ["a", None], "_text") is True
        assert check('c=eq."{a,b}"', "{a,b}", "text[]") is True
        assert check('c=lt."{1,3}"', [1, 2], "_int4") is True
        assert check('c=eq."{1,2}"', [1, 2, 3], "_int4") is False
        with pytest.raises(FilterError) as info:
            parse_filter("c=eq.{a,b}")
        assert info.value.message == PREFIX + '["b}"]'

    def test_bpchar_compares_first_character_like_the_server(self) -> None:
        # The server casts to `character`, i.e. char(1).
        assert check("c=eq.abc", "axe", "bpchar") is True
        assert check("c=eq.abc", "bcd", "character") is False

    @pytest.mark.parametrize(
        ("alias", "value", "literal"),
        [
            ("integer", 10, "9"),
            ("bigint", 10, "9"),
            ("double precision", 10.5, "9"),
            ("numeric(10,2)", 10, "9.99"),
            ("character varying(20)", "b", "a"),
            ("timestamp with time zone", "2024-01-02T00:00:00Z", "2024-01-01"),
            ("pg_catalog.int4", 10, "9"),
        ],
    )
    def test_type_display_names(self, alias: str, value: object, literal: str) -> None:
        assert check(f"c=gt.{literal}", value, alias) is True

    def test_unknown_types_compare_as_text(self) -> None:
        assert check("c=eq.happy", "happy", "mood") is True
        assert check("c=like.ha%", "happy", "public.mood") is True


class TestFilterMatches:
    def test_all_conditions_must_hold(self) -> None:
        parsed = parse_filter("id=gt.0,id=lt.100,status=eq.open")
        types = {"id": "int4", "status": "text"}
        assert parsed.matches({"id": 5, "status": "open"}, types) is True
        assert parsed.matches({"id": 500, "status": "open"}, types) is False
        assert parsed.matches({"id": 5, "status": "closed"}, types) is False

    def test_types_are_per_column_and_optional(self) -> None:
        parsed = parse_filter("id=gt.9,name=eq.bob")
        assert parsed.matches({"id": 10, "name": "bob"}, {"id": "int4"}) is True
        assert parsed.matches({"id": 10, "name": "bob"}, {}) is True

    def test_never_raises_on_odd_values(self) -> None:
        parsed = parse_filter("a=eq.1,b=like.x%,c=in.(1),d=is.true,e=isdistinct.1")
        for value in (None, 1, 1.5, "x", True, [1], {"k": "v"}, float("nan"), object()):
            record = dict.fromkeys("abcde", value)
            for column_type in ("int4", "text", "bool", "uuid", "timestamptz", "jsonb", None):
                types = dict.fromkeys("abcde", column_type) if column_type else None
                assert parsed.matches(record, types) in (True, False)

    def test_evaluators_are_compiled_once_per_type(self) -> None:
        condition = only("id=gt.9")
        first = condition.evaluator("int4")
        assert condition.evaluator("int4") is first
        assert condition.evaluator("text") is not first

    def test_same_filter_same_result_across_types(self) -> None:
        parsed = parse_filter("id=gt.9")
        assert parsed.matches({"id": 10}, {"id": "int4"}) is True
        assert parsed.matches({"id": "10"}, {"id": "text"}) is False
        assert parsed.matches({"id": 10}, {"id": "int4"}) is True


# --------------------------------------------------------------------------------------------
# Property: for non-null, castable values `not.op.v` is exactly the negation of `op.v`
# --------------------------------------------------------------------------------------------

NEGATABLE = ("eq", "neq", "lt", "lte", "gt", "gte", "like", "ilike", "match", "imatch", "in")
SAFE_TEXT = string.ascii_letters + string.digits + " -_%"


def quoted(text: str) -> str:
    """Quote a value so the filter syntax never interferes with it."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def assert_not_is_negation(op: str, literal: str, value: object, column_type: str) -> None:
    positive = check(f"c={op}.{literal}", value, column_type)
    negative = check(f"c=not.{op}.{literal}", value, column_type)
    assert negative is (not positive), (op, literal, value, column_type)


def int_case(op: str, values: list[int], record: int) -> tuple[str, str, object, str]:
    literal = "(" + ",".join(map(str, values)) + ")" if op == "in" else str(values[0])
    if op in ("like", "ilike", "match", "imatch"):
        return op, literal, str(record), "text"  # patterns need a text column
    return op, literal, record, "int4"


def text_case(op: str, values: list[str], record: str) -> tuple[str, str, object, str]:
    if op == "in":
        literal = "(" + ",".join(quoted(v) for v in values) + ")"
    elif op in ("match", "imatch"):
        literal = quoted(values[0].replace("%", "").replace("-", "").replace("_", ""))
    else:
        literal = quoted(values[0])
    return op, literal, record, "text"


def run_negation_property(draw_int: Callable[[], int], draw_text: Callable[[], str]) -> None:
    for op in NEGATABLE:
        assert_not_is_negation(*int_case(op, [draw_int(), draw_int()], draw_int()))
        assert_not_is_negation(*text_case(op, [draw_text(), draw_text()], draw_text()))


if HAVE_HYPOTHESIS:

    @settings(max_examples=200, deadline=None)
    @given(
        op=st.sampled_from(NEGATABLE),
        ints=st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=4),
        record_int=st.integers(-(2**31), 2**31 - 1),
        texts=st.lists(st.text(SAFE_TEXT, max_size=6), min_size=1, max_size=4),
        record_text=st.text(SAFE_TEXT, max_size=6),
    )
    def test_not_is_negation_property(
        op: str, ints: list[int], record_int: int, texts: list[str], record_text: str
    ) -> None:
        assert_not_is_negation(*int_case(op, ints, record_int))
        assert_not_is_negation(*text_case(op, texts, record_text))

else:

    def test_not_is_negation_property() -> None:
        rng = random.Random(20240101)
        for _ in range(300):
            run_negation_property(
                lambda: (
                    rng.randint(-(2**31), 2**31 - 1) if rng.random() < 0.3 else rng.randint(-3, 3)
                ),
                lambda: "".join(rng.choice(SAFE_TEXT) for _ in range(rng.randint(0, 4))),
            )
