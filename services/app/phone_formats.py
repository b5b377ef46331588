"""The web app's phone-number formats, generated from phonenumbers' own metadata.

The service stores and dials numbers in E.164 ("+14155552671"); people read them
grouped as their country writes them ("+1 415-555-2671"). The page has no build step
and loads nothing from elsewhere, so the rules phonenumbers formats with (for each
country calling code: the groupings and the leading digits each applies to) are
written once into ``webapp/phone-formats.js``, and ``formatPhone`` in
``webapp/format.js`` applies them exactly as ``phonenumbers.format_number(...,
INTERNATIONAL)`` does. ``tests/app/test_phone_formats.py`` fails when the file no
longer matches the installed phonenumbers; regenerate it with ``make docs``
(``python -m services.app.phone_formats``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata
from phonenumbers.phonenumberutil import region_code_for_country_code

__all__ = ["FORMATS_FILE", "formats", "module_text"]

FORMATS_FILE = Path(__file__).resolve().parents[2] / "webapp" / "phone-formats.js"


def formats() -> dict[str, list[list[str | None]]]:
    """For each calling code, its international formats in phonenumbers' order of choice:
    ``[pattern, format (with $1 groups), last leading-digits pattern or None]``."""
    out: dict[str, list[list[str | None]]] = {}
    for code in sorted(COUNTRY_CODE_TO_REGION_CODE):
        region = region_code_for_country_code(code)
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        if metadata is None:
            continue
        # as phonenumbers' _format_nsn: the international formats when a code has them
        chosen = metadata.intl_number_format or metadata.number_format
        out[str(code)] = [
            [
                f.pattern,
                f.format.replace("\\", "$"),  # "\1 \2" (Python's) is "$1 $2" in JavaScript
                f.leading_digits_pattern[-1] if f.leading_digits_pattern else None,
            ]
            for f in chosen
        ]
    return out


def module_text() -> str:
    """The whole of ``webapp/phone-formats.js``."""
    data = json.dumps(formats(), separators=(",", ":"), sort_keys=False)
    return (
        "// Generated from phonenumbers' metadata by `make docs`; do not edit.\n"
        "// For each calling code: [pattern, format, leading digits] (services/app/phone_formats.py).\n"
        f"export const PHONE_FORMATS = {data};\n"
    )


def main() -> int:
    FORMATS_FILE.write_text(module_text(), encoding="utf-8")
    print(f"wrote {FORMATS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
