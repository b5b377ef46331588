"""webapp/phone-formats.js is what services/app/phone_formats.py makes of phonenumbers' metadata.

The browser applies it (formatPhone in webapp/format.js; tests/browser/test_words.py checks
that it groups every country's example numbers as phonenumbers does); here, that the file
is current. If this fails after upgrading phonenumbers, run `make docs`.
"""

from __future__ import annotations

from services.app.phone_formats import FORMATS_FILE, formats, module_text


def test_the_web_apps_phone_formats_are_generated_from_the_installed_phonenumbers():
    assert FORMATS_FILE.read_text(encoding="utf-8") == module_text(), "run `make docs`"


def test_every_calling_code_has_formats_in_javascript_form():
    table = formats()
    assert table["1"][-1] == [r"(\d{3})(\d{3})(\d{4})", "$1-$2-$3", "[2-9]"]
    assert len(table) > 200
    for rows in table.values():
        for pattern, rule, _leading in rows:
            assert "\\" not in rule and "$" in rule, rule  # "$1 $2", never Python's "\1 \2"
            assert "(?P" not in pattern and "(?<" not in pattern  # plain groups only
