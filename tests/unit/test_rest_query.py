"""The PostgREST query-string parser (`sandbox.rest.query`): pure, no database."""

from __future__ import annotations

import pytest

from sandbox.rest import query
from sandbox.rest.errors import RestError
from sandbox.rest.query import Field, Filter, Logic, Order, SelectItem


def parse(qs: list[tuple[str, str]]) -> query.Plan:
    return query.parse(qs, schema="public", table="todos")


def refused(qs: list[tuple[str, str]]) -> RestError:
    with pytest.raises(RestError) as info:
        parse(qs)
    return info.value


# --- select ----------------------------------------------------------------------------------


def test_default_select_is_star():
    assert parse([]).select == (SelectItem(None),)
    assert parse([("select", "*")]).select == (SelectItem(None),)


def test_select_columns_aliases_casts_and_json_paths():
    plan = parse([("select", 'id,title,label:name,n::text,data->a->>b,"odd col"')])
    assert plan.select == (
        SelectItem(Field("id")),
        SelectItem(Field("title")),
        SelectItem(Field("name"), alias="label"),
        SelectItem(Field("n"), cast="text"),
        SelectItem(Field("data", (("->", "a"), ("->>", "b")))),
        SelectItem(Field("odd col")),
    )
    assert plan.select[4].field.label == "b" and plan.select[4].field.as_text


def test_select_embeds_are_refused_like_an_unknown_relationship():
    err = refused([("select", "id,owner:users(name)")])
    assert (err.status, err.code) == (400, "PGRST200")
    assert (
        err.message
        == "Could not find a relationship between 'todos' and 'users' in the schema cache"
    )
    assert refused([("select", "*,comments!inner(*)")]).code == "PGRST200"
    assert refused([("select", "...profiles(name)")]).code == "PGRST200"


def test_select_bad_cast_is_a_parse_error():
    err = refused([("select", "n::text;drop")])
    assert (err.status, err.code) == (400, "PGRST100")


# --- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op", ["eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "cs", "cd"]
)
def test_simple_operators_keep_the_raw_value(op):
    plan = parse([("title", f"{op}.a.b,c")])
    assert plan.where == [Filter(Field("title"), op, "a.b,c")]


def test_in_list_with_quoted_values():
    plan = parse([("id", 'in.(1,2,"a,b","q\\"x")')])
    assert plan.where == [Filter(Field("id"), "in", ("1", "2", "a,b", 'q"x'))]
    assert parse([("id", "in.()")]).where == [Filter(Field("id"), "in", ())]


def test_is_values_and_negation():
    assert parse([("done", "is.null")]).where == [Filter(Field("done"), "is", "null")]
    assert parse([("done", "is.TRUE")]).where == [Filter(Field("done"), "is", "true")]
    assert parse([("done", "not.is.null")]).where == [
        Filter(Field("done"), "is", "null", negate=True)
    ]
    assert parse([("n", "not.in.(1,2)")]).where == [
        Filter(Field("n"), "in", ("1", "2"), negate=True)
    ]
    assert refused([("done", "is.maybe")]).code == "PGRST100"


def test_several_filters_on_one_column_are_all_kept():
    plan = parse([("n", "gt.1"), ("n", "lt.5"), ("title", "eq.x")])
    assert [(f.field.name, f.op, f.value) for f in plan.where] == [
        ("n", "gt", "1"),
        ("n", "lt", "5"),
        ("title", "eq", "x"),
    ]


def test_json_path_filters():
    plan = parse([("data->>kind", "eq.a"), ("data->tags->0", "eq.1")])
    assert plan.where[0].field == Field("data", (("->>", "kind"),))
    assert plan.where[1].field == Field("data", (("->", "tags"), ("->", "0")))


@pytest.mark.parametrize("value", ["eqq.1", "1", "eq", "", "not.x.1", "fts.word"])
def test_bad_filters_answer_pgrst100(value):
    err = refused([("id", value)])
    assert (err.status, err.code) == (400, "PGRST100")
    assert err.message.startswith('"failed to parse filter (')
    assert err.body().keys() == {"code", "details", "hint", "message"}


# --- logic trees -----------------------------------------------------------------------------


def test_or_and_nested_logic():
    plan = parse([("or", '(n.gt.5,and(title.eq."a,b",done.is.true),not.and(id.in.(1,2)))')])
    assert plan.where == [
        Logic(
            "or",
            (
                Filter(Field("n"), "gt", "5"),
                Logic(
                    "and",
                    (Filter(Field("title"), "eq", "a,b"), Filter(Field("done"), "is", "true")),
                ),
                Logic("and", (Filter(Field("id"), "in", ("1", "2")),), negate=True),
            ),
        )
    ]


def test_negated_top_level_logic():
    plan = parse([("not.or", "(a.eq.1,b.eq.2)")])
    assert plan.where[0].negate and plan.where[0].op == "or"


def test_bad_logic_tree():
    assert refused([("or", "n.gt.5")]).code == "PGRST100"
    assert refused([("or", "(n.bogus.5)")]).code == "PGRST100"
    assert refused([("or", "(n)")]).code == "PGRST100"


def test_fields_lists_every_column_the_plan_reads():
    plan = parse([("select", "a,b"), ("c", "eq.1"), ("or", "(d.eq.1,and(e.eq.2))"), ("order", "f")])
    assert [f.name for f in plan.fields()] == ["a", "b", "c", "d", "e", "f"]


# --- order, limit, offset, write parameters --------------------------------------------------


def test_order():
    plan = parse([("order", "n.desc.nullslast,title,at.asc.nullsfirst")])
    assert plan.order == (
        Order(Field("n"), desc=True, nulls="last"),
        Order(Field("title")),
        Order(Field("at"), nulls="first"),
    )
    assert refused([("order", "n.sideways")]).code == "PGRST100"


def test_limit_offset():
    plan = parse([("limit", "10"), ("offset", "20")])
    assert (plan.limit, plan.offset) == (10, 20)
    err = refused([("limit", "ten")])
    assert (err.code, err.message) == (
        "PGRST100",
        '"failed to parse limit parameter (ten)" (line 1, column 1)',
    )
    assert refused([("offset", "-1")]).code == "PGRST100"


def test_columns_and_on_conflict():
    plan = parse([("columns", '"id","title"'), ("on_conflict", "a,b")])
    assert plan.columns == ("id", "title")
    assert plan.on_conflict == ("a", "b")


def test_embedded_resource_parameters_are_refused():
    err = refused([("comments.order", "id")])
    assert (err.status, err.code) == (400, "PGRST108")
    assert err.message == "'comments' is not an embedded resource in this request"


def test_apikey_in_the_url_is_not_a_filter():
    assert parse([("apikey", "abc"), ("id", "eq.1")]).where == [Filter(Field("id"), "eq", "1")]


# --- SQL building (sandbox.rest.sql) and request helpers -------------------------------------


def test_values_are_bind_parameters_and_identifiers_are_quoted():
    from sandbox.rest import sql
    from sandbox.rest.catalog import Column

    columns = {"id": Column("id", "bigint"), 'we"ird': Column('we"ird', "text")}
    plan = parse(
        [
            ("select", 'id,we"ird'),
            ("id", "in.(1,2)"),
            ('we"ird', "eq.'; drop table x; --"),
            ("or", r'(id.is.null,"we\"ird".like.a*)'),
            ("order", "id.desc.nullsfirst"),
            ("limit", "5"),
        ]
    )
    text, args = sql.read_sql('"public"."t"', plan, columns, limit=5, offset=None)
    assert "drop table" not in text
    assert args == ["1", "2", "'; drop table x; --", "a%"]
    assert '_r."we""ird" = $3::text::text' in text
    assert '_r."id" in ($1::text::bigint, $2::text::bigint)' in text
    assert '(_r."id" is null or _r."we""ird"::text like $4::text)' in text
    assert text.endswith('order by _r."id" desc nulls first limit 5) _t')


def test_json_path_keys_are_parameters_too():
    from sandbox.rest import sql
    from sandbox.rest.catalog import Column

    plan = parse([("select", "data->a->>0"), ("data->>k'ey", "eq.v")])
    text, args = sql.read_sql(
        '"s"."t"', plan, {"data": Column("data", "jsonb")}, limit=None, offset=None
    )
    assert args == ["a", 0, "k'ey", "v"]
    assert "k'ey" not in text


def test_prefer_range_and_status_helpers():
    from sandbox.rest.errors import status_for
    from sandbox.rest.http import content_range, parse_prefer, parse_range

    assert parse_prefer(["return=representation, count=exact", "tx=rollback"]) == {
        "return": "representation",
        "count": "exact",
        "tx": "rollback",
    }
    assert parse_range("0-9") == (0, 10) and parse_range("items=5-") == (5, None)
    assert parse_range("bogus") is None and parse_range(None) is None
    assert content_range(0, 3, None) == "0-2/*" and content_range(4, 0, 4) == "*/4"
    assert status_for("42501", anonymous=True) == 401
    assert status_for("42501", anonymous=False) == 403
    assert [status_for(c, False) for c in ("23505", "23503", "42P01", "22P02", "P0001")] == [
        409,
        409,
        404,
        400,
        400,
    ]
    assert status_for("40001", False) == 500 and status_for("PT418", False) == 418
