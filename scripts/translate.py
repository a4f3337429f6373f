"""Set translations in a catalog from a JSON object {msgid: translation}.

    python scripts/translate.py ko new-strings.json

Used after `make messages` to fill the new Korean msgstrs; it clears the fuzzy
flag of what it sets and leaves every other entry as it was.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    locale, source = sys.argv[1], Path(sys.argv[2])
    mapping: dict[str, str] = json.loads(source.read_text(encoding="utf-8"))
    path = ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    missing = []
    for msgid, text in mapping.items():
        message = catalog.get(msgid)
        if message is None:
            missing.append(msgid)
            catalog.add(msgid, text)
            continue
        message.string = text
        message.flags.discard("fuzzy")
    tmp = path.with_suffix(".po.tmp")
    with tmp.open("wb") as fh:
        write_po(fh, catalog, width=100, sort_output=True, omit_header=False)
    tmp.replace(path)
    print(f"{len(mapping)} set in {path.relative_to(ROOT)}; {len(missing)} were not in the catalog yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
