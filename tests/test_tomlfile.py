"""The shared TOML reader: every mistake in a hand-written file is one line naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutor import tomlfile
from tutor.errors import UserError
from tutor.tomlfile import TomlFile, TomlFileError

LAB = """\
# A lab as a teacher might write it.
[lab]
title = "Fix the SPF record"
time_limit = "20m"

[lab.start]
scenario = "spf-fail"

[[lab.check]]
name = "spf passes"
expect = "pass"

[[lab.check]]
name = "the header says so"
expect = "Received-SPF: pass"
hint.text = "look at the header"
hint.after = 2

[[step]]
text = \"\"\"
A body that quotes TOML must not fool the reader:
[lab]
expect = "fail"
\"\"\"
wait = 3
"""


def parse(text: str, name: str = "lab.toml") -> TomlFile:
    return tomlfile.parse(text, Path(name))


def line_of(text: str, start: str, nth: int = 1) -> int:
    """The line number of the nth line of ``text`` that starts with ``start``."""
    numbers = [n for n, row in enumerate(text.splitlines(), 1) if row.startswith(start)]
    return numbers[nth - 1]


# --------------------------------------------------------------------------- reading the file


def test_a_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(TomlFileError) as caught:
        tomlfile.load(missing)
    assert str(caught.value) == f"{missing}: no such file"


def test_a_folder_is_not_a_toml_file(tmp_path: Path) -> None:
    with pytest.raises(TomlFileError, match="is a folder, not a TOML file"):
        tomlfile.load(tmp_path)


def test_a_file_that_is_not_utf8_names_the_line_of_the_first_bad_byte(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'[lab]\ntitle = "caf\xe9"\n')
    with pytest.raises(TomlFileError) as caught:
        tomlfile.load(latin1)
    assert str(caught.value) == f"{latin1}:2: not UTF-8 text, so not a TOML file"


def test_a_good_file_loads_into_its_data(tmp_path: Path) -> None:
    good = tmp_path / "lab.toml"
    good.write_text(LAB, encoding="utf-8")
    doc = tomlfile.load(good)
    assert doc.path == good
    assert doc.data["lab"]["check"][1]["hint"] == {"text": "look at the header", "after": 2}


def test_invalid_toml_names_the_line_tomllib_found_and_drops_its_column() -> None:
    text = LAB.replace('expect = "pass"', 'expect = "pass', 1)
    with pytest.raises(TomlFileError) as caught:
        parse(text)
    message = str(caught.value)
    line = line_of(text, 'expect = "pass')
    assert message.startswith(f"lab.toml:{line}: not valid TOML: ")
    assert "column" not in message and "\n" not in message


def test_errors_are_raised_as_the_callers_own_user_error() -> None:
    class LabError(UserError):
        pass

    with pytest.raises(LabError, match="not valid TOML"):
        tomlfile.parse("title = ", Path("lab.toml"), error=LabError)
    doc = tomlfile.parse("[lab]\n", Path("lab.toml"), error=LabError)
    with pytest.raises(LabError):
        doc.string("lab", doc.data["lab"], "title")
    assert issubclass(TomlFileError, UserError)  # so the command line prints it and exits 2


# --------------------------------------------------------------------------- unknown keys


def test_an_unknown_key_names_its_line_and_suggests_the_closest() -> None:
    text = LAB.replace('expect = "Received-SPF: pass"', 'expcet = "Received-SPF: pass"')
    doc = parse(text)
    check = doc.data["lab"]["check"][1]
    with pytest.raises(TomlFileError) as caught:
        doc.check_keys("lab.check[1]", check, ("name", "expect", "hint"))
    assert str(caught.value) == (
        f"lab.toml:{line_of(text, 'expcet')}: lab.check[1].expcet: unknown key "
        "(did you mean 'expect'?); known keys: name, expect, hint"
    )


def test_an_unknown_key_like_no_known_one_gets_no_suggestion() -> None:
    doc = parse(LAB)
    with pytest.raises(TomlFileError) as caught:
        doc.check_keys("", doc.data, ("lesson",))
    assert str(caught.value) == "lab.toml:2: lab: unknown key; known keys: lesson"


def test_suggestion_is_empty_when_nothing_is_close() -> None:
    assert tomlfile.suggestion("helo", ["hello", "greylist"]) == " (did you mean 'hello'?)"
    assert tomlfile.suggestion("zzz", ["hello", "greylist"]) == ""


# --------------------------------------------------------------------------- typed getters


def test_values_of_the_right_type_are_returned_and_defaults_fill_the_gaps() -> None:
    doc = parse(LAB)
    lab = doc.table("", doc.data, "lab", required=True)
    assert doc.string("lab", lab, "title") == "Fix the SPF record"
    assert doc.duration("lab", lab, "time_limit") == 20 * 60
    checks = doc.tables("lab", lab, "check")
    assert [doc.string(f"lab.check[{i}]", c, "name") for i, c in enumerate(checks)] == [
        "spf passes",
        "the header says so",
    ]
    hint = doc.table("lab.check[1]", checks[1], "hint")
    assert doc.integer("lab.check[1].hint", hint, "after") == 2
    assert doc.boolean("lab", lab, "graded", True) is True
    assert doc.strings("lab", lab, "tags") == ()
    assert doc.table("lab", lab, "end") == {}
    assert doc.tables("", doc.data, "quiz") == []


def test_one_string_or_one_table_counts_as_a_list_of_one() -> None:
    doc = parse('tags = "spf"\n[quiz]\nask = "?"\n')
    assert doc.strings("", doc.data, "tags") == ("spf",)
    assert doc.tables("", doc.data, "quiz") == [{"ask": "?"}]


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [(300, 300.0), (1.5, 1.5), ('"300s"', 300.0), ('"5m"', 300.0), ('"4h"', 14400.0),
     ('"5d"', 432000.0), ('"1w"', 604800.0), ('" 2.5 h "', 9000.0)],
)  # fmt: skip
def test_durations_are_written_like_postfix(duration: object, seconds: float) -> None:
    doc = parse(f"wait = {duration}\n")
    assert doc.duration("", doc.data, "wait") == seconds


@pytest.mark.parametrize(
    ("value", "read", "problem"),
    [
        ("3", "string", "must be a string, not int"),
        ('"3"', "integer", "must be a whole number >= 0"),
        ("-3", "integer", "must be a whole number >= 0"),
        ("true", "integer", "must be a whole number >= 0"),
        ("1.5", "integer", "must be a whole number >= 0"),
        ('"yes"', "boolean", "must be true or false"),
        ('"5 days"', "duration", 'must be a duration such as 300, "5m" or "5d"'),
        ("-1", "duration", 'must be a duration such as 300, "5m" or "5d"'),
        ("false", "duration", 'must be a duration such as 300, "5m" or "5d"'),
        ("[1, 2]", "strings", "must be a list of strings"),
        ("3", "tables", "must be a table ([[step[0].wait]])"),
        ("3", "table", "must be a table ([step[0].wait])"),
    ],
)
def test_a_value_of_the_wrong_type_says_what_was_expected_and_where(
    value: str, read: str, problem: str
) -> None:
    text = LAB.replace("wait = 3", f"wait = {value}")
    doc = parse(text)
    step = doc.data["step"][0]
    with pytest.raises(TomlFileError) as caught:
        getattr(doc, read)("step[0]", step, "wait")
    assert str(caught.value) == f"lab.toml:{line_of(text, 'wait =')}: step[0].wait: {problem}"


def test_a_minimum_other_than_zero_is_named_in_the_problem() -> None:
    doc = parse("after = 0\n")
    with pytest.raises(TomlFileError, match=r"^lab.toml:1: after: must be a whole number >= 1$"):
        doc.integer("", doc.data, "after", minimum=1)


def test_a_missing_required_key_points_at_its_table() -> None:
    doc = parse(LAB)
    first = doc.data["lab"]["check"][0]
    with pytest.raises(TomlFileError) as caught:
        doc.string("lab.check[0]", first, "hint")
    line = line_of(LAB, "[[lab.check]]")
    assert str(caught.value) == f"lab.toml:{line}: lab.check[0]: missing required key 'hint'"


def test_a_missing_required_table_is_named_in_toml_syntax() -> None:
    doc = parse(LAB)
    with pytest.raises(TomlFileError) as caught:
        doc.table("", doc.data, "lesson", required=True)
    assert str(caught.value) == "lab.toml: missing required table [lesson]"
    with pytest.raises(TomlFileError) as caught:
        doc.table("lab", doc.data["lab"], "end", required=True)
    assert str(caught.value) == "lab.toml:2: missing required table [lab.end]"


# --------------------------------------------------------------------------- finding lines


def test_the_line_of_a_nested_key_in_the_right_element_of_an_array_of_tables() -> None:
    doc = parse(LAB)
    assert doc.locate("lab.check[0].expect") == line_of(LAB, "expect = ", 1)
    assert doc.locate("lab.check[1].expect") == line_of(LAB, "expect = ", 2)
    assert doc.locate("lab.start.scenario") == line_of(LAB, "scenario = ")
    assert doc.locate("lab.check[1].hint.after") == line_of(LAB, "hint.after")  # dotted key
    assert doc.locate("lab.check[1].hint") == line_of(LAB, "hint.text")


def test_a_table_is_found_by_its_header_and_an_unindexed_name_means_the_first() -> None:
    doc = parse(LAB)
    assert doc.locate("lab") == line_of(LAB, "[lab]")
    assert doc.locate("lab.start") == line_of(LAB, "[lab.start]")
    assert doc.locate("lab.check") == line_of(LAB, "[[lab.check]]", 1)
    assert doc.locate("lab.check[1]") == line_of(LAB, "[[lab.check]]", 2)


def test_a_key_not_in_the_file_falls_back_to_its_nearest_table_or_to_no_line() -> None:
    doc = parse(LAB)
    assert doc.locate("lab.check[1].points") == line_of(LAB, "[[lab.check]]", 2)
    assert doc.locate("lab.check[5].name") == line_of(LAB, "[lab]")
    assert doc.locate("lesson.title") == 0
    assert doc.locate("") == 0
    assert str(doc.fail("lesson.title", "wanted")) == "lab.toml: lesson.title: wanted"


def test_multi_line_strings_comments_and_multi_line_values_are_not_structure() -> None:
    text = (
        "# [lab] in a comment\n"
        'names = [\n  ["lab"],\n  "expect = 1",\n]\n'
        "[step]\n"
        "text = '''\n[lab]\nexpect = 2\n'''\n"
        'note = """ends "here"""" # a """ in a comment\n'
        "[lab]\n"
        "expect = 3\n"
    )
    doc = parse(text)
    assert doc.data["lab"] == {"expect": 3}
    assert doc.locate("lab") == line_of(text, "[lab]", 2)
    assert doc.locate("lab.expect") == line_of(text, "expect = 3")
    assert doc.locate("step.note") == line_of(text, "note =")


def test_top_level_keys_and_quoted_keys_have_lines_too() -> None:
    text = 'title = "x"\n"odd key" = 1\n[hosts."mx.example"]\nrole = "mx"\n'
    doc = parse(text)
    assert doc.locate("title") == 1
    assert doc.locate("odd key") == 2
    assert doc.locate("hosts") == 3
