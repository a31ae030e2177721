"""Intervention scripts: string and list forms, round trips, error positions; transcripts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tv2tv.types import TextEvent
from tv2tv.world_model.interventions import (
    TranscriptEntry,
    format_script,
    load_transcripts,
    parse_script,
    save_transcripts,
)

texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                min_size=1, max_size=20).filter(lambda t: t.strip() != "")
events_st = st.lists(st.builds(lambda f, t: TextEvent(f, t, "intervention"),
                               st.integers(0, 10_000), texts), max_size=6).map(
    lambda evs: sorted(evs, key=lambda e: e.frame))


def test_string_form() -> None:
    got = parse_script("8: move paddle up; 16: move paddle down\n# a comment\n20:fire")
    assert [(e.frame, e.text) for e in got] == [(8, "move paddle up"), (16, "move paddle down"), (20, "fire")]
    assert all(e.source == "intervention" for e in got)


def test_sorted_by_frame_and_quoted_text() -> None:
    got = parse_script('9: b; 3: "a; with semicolon"')
    assert [(e.frame, e.text) for e in got] == [(3, "a; with semicolon"), (9, "b")]


def test_list_forms_are_equivalent(tmp_path) -> None:
    want = parse_script("8: move paddle up; 16: move paddle down")
    entries = [{"frame": 8, "text": "move paddle up"}, {"frame": 16, "text": "move paddle down"}]
    (tmp_path / "s.json").write_text(json.dumps(entries))
    (tmp_path / "s.yaml").write_text("- {frame: 8, text: move paddle up}\n"
                                     "- {frame: 16, text: move paddle down}\n")
    (tmp_path / "s.txt").write_text("8: move paddle up\n16: move paddle down\n")
    assert parse_script(entries) == want
    assert parse_script(json.dumps(entries)) == want
    for name in ("s.json", "s.yaml", "s.txt"):
        assert parse_script(str(tmp_path / name)) == want
        assert parse_script(tmp_path / name) == want


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        parse_script("nope.yaml")


@pytest.mark.parametrize("bad,index,msg", [
    ([{"frame": 1, "text": "a"}, {"frame": -2, "text": "b"}], 1, "int >= 0"),
    ([{"frame": 1, "text": ""}], 0, "non-empty"),
    ([{"frame": 1}], 0, "keys"),
])
def test_list_errors_name_the_entry(bad, index, msg) -> None:
    with pytest.raises(ValueError, match=f"entry {index}.*{msg}"):
        parse_script(bad)


@settings(max_examples=60, deadline=None)
@given(events_st)
def test_round_trip(events) -> None:
    assert parse_script(format_script(events)) == events
    entries = [{"frame": e.frame, "text": e.text} for e in events]
    assert parse_script(entries) == events


@settings(max_examples=60, deadline=None)
@given(events_st, st.integers(0, 6), st.sampled_from(["x: up", "12 up", "-3: up", "4:   ", '5: "open']))
def test_error_names_entry_and_position(events, where, bad) -> None:
    good = [format_script([e]) for e in events]
    if bad.count('"') % 2:  # an unclosed quote runs to the end: a later quoted entry would close it
        where = len(events)
    where = min(where, len(events))
    prefix = "; ".join(good[:where] + [""]) if where else ""
    script = prefix + bad + ("; " + "; ".join(good[where:]) if good[where:] else "")
    with pytest.raises(ValueError) as info:
        parse_script(script)
    msg = str(info.value)
    assert f"entry {where} " in msg
    pos = int(msg.split("character ")[1].split(")")[0])
    assert len(prefix) <= pos < len(prefix) + len(bad)


def test_transcript_json_round_trip(tmp_path) -> None:
    rollouts = [[TranscriptEntry(-2, "wait", "context"), TranscriptEntry(0, "move up", "model"),
                 TranscriptEntry(4, "fire", "user")], []]
    path = save_transcripts(tmp_path / "t.json", rollouts, {"seed": 3})
    got, info = load_transcripts(path)
    assert got == rollouts and info == {"seed": 3}
    assert rollouts[0][2].to_event() == TextEvent(4, "fire", "intervention")
    with pytest.raises(ValueError, match="source"):
        TranscriptEntry(0, "x", "robot")  # type: ignore[arg-type]
