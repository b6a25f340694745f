"""Whatever text reaches the pages' HTML builders stays text.

Channel names, event names, presence keys, slot keys, server words and exception messages all
come from outside (a project's clients, its server, its config), and the views splice them into
HTML panes. The property: the markup built with any string has exactly the elements and
attributes it has with a plain one, and the string comes back out of the text unchanged. Then
the two places the browser test found or checks by hand: the Inspector's detail title and the
Overview's start-up error.
"""

from __future__ import annotations

import time
from html.parser import HTMLParser

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dashboards import markup
from dashboards.inspector import Inspector
from dashboards.overview import Overview
from feeds.events import Event
from metrics.settings import AlertsConfig
from metrics.shared import SharedSnapshots
from metrics.store import Store

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
IMG = "<img src=x onerror=window.__pwned=1>"
hostile = st.text(min_size=1, max_size=40) | st.sampled_from(  # empty drops optional parts
    [IMG, "<script>x()</script>", '"><b>', "' onmouseover='x()", "&lt;b&gt;", "</div>", "{{x}}"]
)


class Shape(HTMLParser):
    """The elements and attribute names of a document, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.text: list[str] = []
        self.values: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(name for name, _ in attrs)))
        self.values += [v or "" for _, v in attrs]

    def handle_data(self, data):
        self.text.append(data)


def shape(html: str) -> Shape:
    parser = Shape()
    parser.feed(html)
    parser.close()
    return parser


def builders(s: str) -> dict[str, str]:
    return {
        "tile": markup.tile(s, s, sub=s, test_id=s),
        "badge": markup.status_badge("error", s, None, None, s, trouble=s),
        "chips": markup.subscription_chips([(s, "CHANNEL_ERROR", s)], {s: ("auth.expired", s)}),
        "latency": markup.channel_latency([(s, 1.0, 2.0, 3.0, 4)], 500.0),
        "slot": markup.slot_card(s, {"n": 1.0}, None, [], ["n", s], note=s, meta=s),
    }


@FUZZ
@given(hostile)
@example(IMG)
def test_any_text_in_the_builders_is_text(s: str) -> None:
    plain = {name: shape(html) for name, html in builders("plain").items()}
    for name, html in builders(s).items():
        got = shape(html)
        assert got.tags == plain[name].tags, (name, html)
        if s.strip():
            assert s in "".join(got.text) or s in got.values, (name, html)


def shared() -> SharedSnapshots:
    return SharedSnapshots(store=Store(), alerts=AlertsConfig(), channels=[IMG])


def test_the_inspector_title_shows_a_hostile_event_as_text() -> None:
    data = shared()
    data.store.ingest(Event(time.time(), IMG, "broadcast", IMG, payload={"event": IMG}))
    inspector = Inspector(data=data)
    inspector.__panel__()
    inspector.refresh_slow(data.latest())
    assert len(inspector.table.value) == 1
    inspector.table.selection = [0]
    title = inspector.detail_title.object
    assert [tag for tag, _ in shape(title).tags] == ["b", "b"], title
    assert "".join(shape(title).text).count(IMG) == 2  # the event and the channel


def test_the_overview_shows_a_start_up_error_as_text() -> None:
    data = shared()
    data.error = f"could not start monitoring: HTTP 401: {IMG}"
    overview = Overview(data=data)
    overview.refresh_slow(data.latest())
    got = shape(overview.error.object)
    assert [tag for tag, _ in got.tags] == ["div"] and IMG in "".join(got.text)
