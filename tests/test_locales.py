"""Every message a person sees has a Korean translation, and the catalog template is up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
POT = ROOT / "locales" / "messages.pot"
KO = ROOT / "locales" / "ko" / "LC_MESSAGES" / "messages.po"
# The same extraction as `make messages`.
EXTRACT = [
    "extract",
    "-F",
    "babel.cfg",
    "--no-default-keywords",
    "-k",
    "_",
    "-k",
    "N_",
    "-k",
    "ngettext:1,2",
    "--no-location",
    "--sort-output",
    "--ignore-dirs=.venv tests build",
    "--project",
    "dolbom",
]


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _ids(catalog: Catalog) -> set[str]:
    return {str(m.id) if not isinstance(m.id, tuple) else m.id[0] for m in catalog if m.id}


def test_every_message_has_a_korean_translation_that_is_not_fuzzy() -> None:
    ko = _read(KO, "ko")
    missing = []
    for msgid in sorted(_ids(_read(POT))):
        message = ko.get(msgid)
        if message is None or not message.string or message.fuzzy:
            missing.append(msgid)
    assert not missing, f"{len(missing)} msgids lack a Korean translation (or are fuzzy), e.g. {missing[:10]}"


def test_the_template_holds_exactly_the_msgids_of_the_code(tmp_path: Path) -> None:
    out = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(pybabel), *EXTRACT, "-o", str(out), "."], cwd=ROOT, check=True, capture_output=True)
    in_code, in_template = _ids(_read(out)), _ids(_read(POT))
    assert not in_code - in_template, f"run `make messages`: new msgids {sorted(in_code - in_template)[:10]}"
    assert not in_template - in_code, f"run `make messages`: stale msgids {sorted(in_template - in_code)[:10]}"
