"""The district directory as one XLSX workbook: template, import (all or nothing), export.

Three steps, kept apart so the apply step can later call care/directory.py instead:

    read_workbook(data)  -> Sheets        the cells, as text, by sheet and column (openpyxl)
    make_plan(...)       -> Plan          every row checked; Problems name sheet, row and column
    apply_plan(...)      -> Applied       upsert by natural keys, in the caller's transaction

Natural keys: district code; 권역 name; 동 name; provider name; care manager name + 동, and
their phone when two of one name work in one 동 (decision 0016); service code + year. A row
absent from the file is left as it is (never deleted); the 사용 여부 column turns a row off.
A provider's services and 권역 are the cell's whole list (empty while it is being set up): the
file replaces them. Importing the same file twice changes nothing, and every state the
console's directory pages allow exports and imports back unchanged.

The sheet and column names are the file's format (Korean, as the desk reads them); messages
are msgids rendered at the edges (`render`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from care import directory, parsing, registration_numbers
from care.auth import Access
from care.catalog import DEFAULTS
from dolbom.errors import ConflictError, InvalidInput, NotFound
from dolbom.i18n import N_, gettext
from storage.models import (
    CareManager,
    District,
    Dong,
    Provider,
    ProviderRegion,
    ProviderService,
    Region,
    ServiceCatalog,
    SupportLimit,
)

# The tables one workbook covers: an import writes these and no others.
TABLES = (District, Region, Dong, Provider, ProviderService, ProviderRegion, CareManager, ServiceCatalog, SupportLimit)

# ---------------------------------------------------------------- the format

S_DISTRICT, S_REGIONS, S_DONGS, S_PROVIDERS, S_MANAGERS, S_PRICES = (
    "자치구",
    "권역",
    "행정동",
    "제공기관",
    "돌봄매니저",
    "서비스 단가",
)
C_ACTIVE = "사용 여부"
C_NO_SHOW = "무단결석 청구(단위)"


@dataclass(frozen=True)
class Column:
    header: str
    hint: str  # the second row of the sheet: what to write
    required: bool = False
    width: int = 16
    optional: bool = False  # a workbook made before the column existed may leave it out


SHEETS: dict[str, tuple[Column, ...]] = {
    S_DISTRICT: (
        Column("구 코드", "필수 · 영문/숫자 (예: mapo)", True),
        Column("구 이름", "필수", True),
        Column("창구 전화", "02-123-4567처럼", width=18),
        Column("운영 시간", "예: 평일 9시~18시", width=24),
        Column(C_ACTIVE, "예 / 아니오 (비우면 예)", width=12),
    ),
    S_REGIONS: (
        Column("권역", "필수 · 권역 이름", True),
        Column(C_ACTIVE, "예 / 아니오 (비우면 예)", width=12),
    ),
    S_DONGS: (
        Column("행정동", "필수 · 동 이름", True),
        Column("권역", "필수 · 권역 시트에 있는 이름", True),
        Column(C_ACTIVE, "예 / 아니오 (비우면 예)", width=12),
    ),
    S_PROVIDERS: (
        Column("기관명", "필수", True, width=28),
        Column("유형", "필수 · 협동조합 / 사회적협동조합 / 사회적기업 / 자활기업 / 사회복지기관 / 보건소", True),
        Column("전화", "02-123-4567처럼", width=18),
        Column("제공 서비스", "쉼표로 나눠서 (예: 식사지원, 일시재가) · 아직 없으면 비워 두세요", width=28),
        Column("주간 정원", "필수 · 숫자 (한 주에 받을 수 있는 건수)", True),
        Column("서비스별 주간 정원", "서비스마다 다를 때만 (예: 식사지원 30, 일시재가 10)", width=28),
        Column("담당 권역", "쉼표로 나눠서 · 아직 없으면 비워 두세요", width=20),
        Column("책임 권역", "권역별 책임기관인 권역 (권역마다 한 곳)", width=20),
        Column(C_ACTIVE, "예 / 아니오 (비우면 예)", width=12),
    ),
    S_MANAGERS: (
        Column("이름", "필수", True),
        Column("행정동", "필수 · 행정동 시트에 있는 이름", True),
        Column("직렬", "필수 · 사회복지직 / 간호직", True),
        Column("전화", "02-123-4567처럼 · 같은 동에 이름이 같은 분이 있으면 꼭 적어 주세요", width=18),
        Column(C_ACTIVE, "예 / 아니오 (비우면 예)", width=12),
    ),
    S_PRICES: (
        Column("연도", "필수 · 예: 2026", True, width=10),
        Column("서비스 코드", "필수 · " + ", ".join(d.code.value for d in DEFAULTS), True),
        Column("서비스 이름", "필수", True),
        Column("단위", "필수 · 예: 3시간, 1식", True, width=10),
        Column("단가(원)", "필수 · 숫자", True),
        Column("1인 한도(단위)", "숫자 (비우면 한도 없음)"),
        Column("연간 지원 한도(원)", "필수 · 숫자 (같은 해는 같은 금액)", True, width=20),
        Column(C_ACTIVE, "예 / 아니오 (비우면 예)", width=12),
        Column(C_NO_SHOW, "무단결석 1번에 청구할 단위 수 (비우면 청구 안 함)", width=18, optional=True),
    ),
}
FIRST_DATA_ROW = 3  # row 1: headers, row 2: what to write

PROVIDER_KINDS: dict[str, str] = {
    "cooperative": "협동조합",
    "social_cooperative": "사회적협동조합",
    "social_enterprise": "사회적기업",
    "self_sufficiency": "자활기업",
    "welfare_agency": "사회복지기관",
    "health_center": "보건소",
}
JOB_TYPES: dict[str, str] = {"social_worker": "사회복지직", "nurse": "간호직"}
SERVICE_NAMES: dict[str, str] = {d.code.value: d.name for d in DEFAULTS}
YES, NO = "예", "아니오"
_YES = {"예", "y", "yes", "o", "사용", "true", "1", "네"}
_NO = {"아니오", "아니요", "n", "no", "x", "미사용", "false", "0"}

# ---------------------------------------------------------------- problems

AT_CELL = N_("{sheet} sheet, row {row}, column '{column}': {problem}")
AT_ROW = N_("{sheet} sheet, row {row}: {problem}")
AT_SHEET = N_("{sheet} sheet: {problem}")

MISSING_SHEET = N_("The workbook has no '{sheet}' sheet. Please copy it from the template.")
MISSING_COLUMN = N_("the column '{column}' is missing. Please keep the template's first row as it is.")
REQUIRED = N_("it is empty. Please fill it in.")
NOT_NUMBER = N_("please write a number (written now: '{value}').")
NEGATIVE = N_("please write 0 or more (written now: '{value}').")
BAD_YEAR = N_("please write a year such as 2026 (written now: '{value}').")
REGION_COMMA = N_("a region's name cannot have a comma (written now: '{value}').")
SAME_MANAGER = N_(
    "'{value}' is written twice with the same phone; it is also on row {other}. Two care managers"
    " of one name in one dong are told apart by their phone."
)
BAD_PHONE = N_("the phone number does not look right (written now: '{value}'). Write it like 02-123-4567.")
CHOOSE = N_("please write one of: {choices} (written now: '{value}').")
UNKNOWN_REGION = N_("there is no region '{value}' on the 권역 sheet.")
UNKNOWN_DONG = N_("there is no dong '{value}' on the 행정동 sheet.")
UNKNOWN_SERVICE = N_("unknown service '{value}'. Please write one of: {choices}.")
DUPLICATE = N_("'{value}' is written twice; it is also on row {other}.")
TWO_LEADS = N_("region '{value}' has a lead provider already on row {other}. A region has one lead.")
LIMIT_DIFFERS = N_("the annual limit for {year} differs from row {other}. Write the same amount for one year.")
BAD_CODE = N_("please write the code with English letters, digits, - or _ (written now: '{value}').")
REGISTRATION = N_("this looks like a resident registration number. It cannot be written here.")
ONE_DISTRICT = N_("please write exactly one district, on row 3.")
OTHER_DISTRICT = N_(
    "the district code '{value}' is not the district you manage. Please check the code on the 자치구 sheet."
)
UNREADABLE = N_("The file could not be read as an Excel workbook (.xlsx). Please save it as .xlsx and try again.")
REJECTED = N_("The workbook was not imported: {count} things to fix. Nothing was changed.")


@dataclass(frozen=True)
class Problem:
    """One mistake in the workbook: where (sheet, row, column; None = the whole sheet/file) and what."""

    msgid: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def render(problem: Problem, locale: str | None = None) -> str:
    """Return one problem as a sentence naming its sheet, row and column."""
    text = gettext(problem.msgid, locale, **problem.params)
    if problem.sheet is None:
        return text
    if problem.row is None:
        return gettext(AT_SHEET, locale, sheet=problem.sheet, problem=text)
    if problem.column is None:
        return gettext(AT_ROW, locale, sheet=problem.sheet, row=problem.row, problem=text)
    return gettext(AT_CELL, locale, sheet=problem.sheet, row=problem.row, column=problem.column, problem=text)


class WorkbookRejected(InvalidInput):
    """The workbook has mistakes; nothing was imported. `problems` lists every one."""

    msgid = REJECTED

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(count=len(problems))


# ---------------------------------------------------------------- reading


@dataclass
class Row:
    number: int  # the spreadsheet's row number
    cells: dict[str, str]


@dataclass
class Sheets:
    rows: dict[str, list[Row]]
    problems: list[Problem]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return " ".join(str(value).split())


def read_workbook(data: bytes) -> Sheets:
    """Return the workbook's cells as text by sheet and header; missing sheets and columns as problems."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many kinds for a file that is not .xlsx
        raise InvalidInput(UNREADABLE) from err
    sheets = Sheets(rows={}, problems=[])
    try:
        for name, columns in SHEETS.items():
            if name not in book.sheetnames:
                sheets.problems.append(Problem(MISSING_SHEET, params={"sheet": name}))
                continue
            values = [list(r) for r in book[name].iter_rows(values_only=True)]
            header = [_cell_text(v) for v in values[0]] if values else []
            where = {h: i for i, h in reversed(list(enumerate(header))) if h}
            missing = [c.header for c in columns if c.header not in where and not c.optional]
            for header_name in missing:
                sheets.problems.append(Problem(MISSING_COLUMN, name, params={"column": header_name}))
            # The rows are still read (a missing column's cells are left out), so every other
            # mistake is found in the same pass.
            rows: list[Row] = []
            for number, raw in enumerate(values[FIRST_DATA_ROW - 1 :], start=FIRST_DATA_ROW):
                cells = {
                    h: _cell_text(raw[where[h]]) if where[h] < len(raw) else ""
                    for h in (c.header for c in columns)
                    if h in where
                }
                if any(cells.values()):
                    rows.append(Row(number, cells))
            sheets.rows[name] = rows
    finally:
        book.close()
    return sheets


# ---------------------------------------------------------------- checking


@dataclass
class DistrictRow:
    code: str
    name: str
    phone: str | None
    office_hours: str | None
    active: bool


@dataclass
class RegionRow:
    name: str
    active: bool


@dataclass
class DongRow:
    name: str
    region: str
    active: bool


@dataclass
class ProviderRow:
    name: str
    kind: str
    phone: str | None
    weekly_capacity: int
    services: dict[str, int | None]  # code -> weekly capacity of that service (None: the overall one)
    regions: list[str]
    leads: list[str]
    active: bool


@dataclass
class ManagerRow:
    name: str
    dong: str
    job_type: str
    phone: str | None
    active: bool


@dataclass
class PriceRow:
    year: int
    code: str
    name: str
    unit_label: str
    unit_price: int
    cap_units: int | None
    active: bool
    no_show_units: int | None = None  # None: the column is not in the file (the rule is left as it is)


@dataclass
class Plan:
    """A checked workbook, ready to apply."""

    district: DistrictRow
    regions: list[RegionRow]
    dongs: list[DongRow]
    providers: list[ProviderRow]
    managers: list[ManagerRow]
    prices: list[PriceRow]
    limits: dict[int, int]  # year -> annual support limit in 원


class _Checker:
    """Reads one row's cells into values, noting a Problem per bad cell."""

    def __init__(self, sheet: str, row: Row, problems: list[Problem]) -> None:
        self.sheet, self.row, self.problems = sheet, row, problems
        self.ok = True

    def fail(self, column: str | None, msgid: str, **params: Any) -> None:
        self.ok = False
        self.problems.append(Problem(msgid, self.sheet, self.row.number, column, params))

    def text(self, column: str, *, required: bool = False) -> str:
        if column not in self.row.cells:  # a missing column: reported once for the sheet
            return ""
        value = self.row.cells[column]
        if value and registration_numbers.contains(value):
            self.fail(column, REGISTRATION)
            return ""
        if required and not value:
            self.fail(column, REQUIRED)
        return value

    def number(self, column: str, *, required: bool = False) -> int | None:
        value = self.text(column, required=required)
        if not value:
            return None
        cleaned = value.replace(",", "").replace("원", "").strip()
        if not re.fullmatch(r"-?\d+", cleaned):
            self.fail(column, NOT_NUMBER, value=value)
            return None
        number = int(cleaned)
        if number < 0:
            self.fail(column, NEGATIVE, value=value)
            return None
        return number

    def phone(self, column: str) -> str | None:
        value = self.text(column)
        if not value:
            return None
        try:
            return parsing.parse_phone(value)
        except InvalidInput:
            if re.fullmatch(r"\+82\d{8,11}", value):
                return value  # as the database holds it (an export writes back what it could not format)
            self.fail(column, BAD_PHONE, value=value)
            return None

    def desk_phone(self, column: str) -> str | None:
        value = self.text(column)
        if not value:
            return None
        try:
            return directory.desk_phone(value)  # what the console takes: also 120 or 1588-0000
        except InvalidInput:
            return self.phone(column)

    def choice(self, column: str, choices: dict[str, str], *, required: bool = True) -> str | None:
        value = self.text(column, required=required)
        if not value:
            return None
        for code, label in choices.items():
            if value in (label, code):
                return code
        self.fail(column, CHOOSE, choices=" / ".join(choices.values()), value=value)
        return None

    def active(self) -> bool:
        value = self.text(C_ACTIVE).lower()
        if not value or value in _YES:
            return True
        if value in _NO:
            return False
        self.fail(C_ACTIVE, CHOOSE, choices=f"{YES} / {NO}", value=self.row.cells.get(C_ACTIVE, ""))
        return True

    def names(self, column: str, *, required: bool = False) -> list[str]:
        value = self.text(column, required=required)
        return [p.strip() for p in re.split(r"[,，、/]", value) if p.strip()]


def _service_code(value: str) -> str | None:
    for code, name in SERVICE_NAMES.items():
        if value in (code, name):
            return code
    return None


def _region_list(value: str, known: set[str]) -> list[str]:
    """Split a cell of 권역 names at commas; a part with "/" is split there too unless it is a name itself."""
    names: list[str] = []
    for part in re.split(f"[{directory.LIST_SEPARATORS}]", value):
        part = part.strip()
        pieces = [p.strip() for p in part.split("/") if p.strip()]
        if part in known or not all(p in known for p in pieces):
            names += [part] if part else []
        else:
            names += pieces
    return names


def _unique(checker: _Checker, seen: dict[Any, int], key: Any, column: str, shown: str) -> None:
    if key in seen:
        checker.fail(column, DUPLICATE, value=shown, other=seen[key])
    else:
        seen[key] = checker.row.number


def _check_provider_services(c: _Checker) -> dict[str, int | None]:
    services: dict[str, int | None] = {}
    choices = ", ".join(SERVICE_NAMES.values())
    for name in c.names("제공 서비스"):
        code = _service_code(name)
        if code is None:
            c.fail("제공 서비스", UNKNOWN_SERVICE, value=name, choices=choices)
        else:
            services[code] = None
    for part in c.names("서비스별 주간 정원"):
        match = re.fullmatch(r"(.+?)\s*[:=]?\s*(\S+)", part)
        name, amount = (match.group(1).strip(), match.group(2)) if match else (part, "")
        code = _service_code(name)
        if code is None:
            c.fail("서비스별 주간 정원", UNKNOWN_SERVICE, value=name, choices=choices)
        elif not amount.isdigit():
            c.fail("서비스별 주간 정원", NOT_NUMBER, value=part)
        else:
            services[code] = int(amount)
    return services


def make_plan(sheets: Sheets) -> Plan:
    """Return the checked plan of a read workbook; raise WorkbookRejected listing every mistake."""
    problems = list(sheets.problems)
    rows = sheets.rows

    district: DistrictRow | None = None
    district_rows = rows.get(S_DISTRICT)
    if district_rows is not None:
        if len(district_rows) != 1:
            problems.append(Problem(ONE_DISTRICT, S_DISTRICT))
        for row in district_rows[:1]:
            c = _Checker(S_DISTRICT, row, problems)
            district_code = c.text("구 코드", required=True)
            # The code is also the bot's link (t.me/<bot>?start=<code>): Telegram allows these characters.
            if district_code and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", district_code):
                c.fail("구 코드", BAD_CODE, value=district_code)
            district = DistrictRow(
                code=district_code,
                name=c.text("구 이름", required=True),
                phone=c.desk_phone("창구 전화"),
                office_hours=c.text("운영 시간") or None,
                active=c.active(),
            )

    regions: list[RegionRow] = []
    seen: dict[Any, int] = {}
    for row in rows.get(S_REGIONS, []):
        c = _Checker(S_REGIONS, row, problems)
        name = c.text("권역", required=True)
        active = c.active()
        if any(sep in name for sep in directory.LIST_SEPARATORS):
            c.fail("권역", REGION_COMMA, value=name)
        elif name:
            _unique(c, seen, name, "권역", name)
        if c.ok:
            regions.append(RegionRow(name, active))
    region_names = {r.name for r in regions} | {r.cells.get("권역", "") for r in rows.get(S_REGIONS, [])}
    regions_known = S_REGIONS in rows

    dongs: list[DongRow] = []
    seen = {}
    for row in rows.get(S_DONGS, []):
        c = _Checker(S_DONGS, row, problems)
        name = c.text("행정동", required=True)
        region = c.text("권역", required=True)
        active = c.active()
        if name:
            _unique(c, seen, name, "행정동", name)
        if region and regions_known and region not in region_names:
            c.fail("권역", UNKNOWN_REGION, value=region)
        if c.ok:
            dongs.append(DongRow(name, region, active))
    dong_names = {r.cells.get("행정동", "") for r in rows.get(S_DONGS, [])}
    dongs_known = S_DONGS in rows

    providers: list[ProviderRow] = []
    seen = {}
    leads: dict[str, int] = {}
    for row in rows.get(S_PROVIDERS, []):
        c = _Checker(S_PROVIDERS, row, problems)
        name = c.text("기관명", required=True)
        kind = c.choice("유형", PROVIDER_KINDS)
        phone = c.phone("전화")
        services = _check_provider_services(c)
        capacity = c.number("주간 정원", required=True)
        served = _region_list(c.text("담당 권역"), region_names)
        led = _region_list(c.text("책임 권역"), region_names)
        active = c.active()
        if name:
            _unique(c, seen, name, "기관명", name)
        if regions_known:
            for column, names in (("담당 권역", served), ("책임 권역", led)):
                for region in names:
                    if region not in region_names:
                        c.fail(column, UNKNOWN_REGION, value=region)
        # As in the console, only providers in use count: a paused one's lead is history.
        for region in led if active else []:
            if region in leads:
                c.fail("책임 권역", TWO_LEADS, value=region, other=leads[region])
            else:
                leads[region] = row.number
        if c.ok and kind is not None and capacity is not None:
            regions_all = list(dict.fromkeys(served + led))
            providers.append(ProviderRow(name, kind, phone, capacity, services, regions_all, led, active))

    managers: list[ManagerRow] = []
    seen = {}
    for row in rows.get(S_MANAGERS, []):
        c = _Checker(S_MANAGERS, row, problems)
        name = c.text("이름", required=True)
        dong = c.text("행정동", required=True)
        job_type = c.choice("직렬", JOB_TYPES)
        phone = c.phone("전화")
        active = c.active()
        if dong and dongs_known and dong not in dong_names:
            c.fail("행정동", UNKNOWN_DONG, value=dong)
        if name and dong and (name, dong, phone) in seen:
            c.fail("이름", SAME_MANAGER, value=f"{name} ({dong})", other=seen[(name, dong, phone)])
        elif name and dong:
            seen[(name, dong, phone)] = row.number
        if c.ok and job_type is not None:
            managers.append(ManagerRow(name, dong, job_type, phone, active))

    prices: list[PriceRow] = []
    limits: dict[int, tuple[int, int]] = {}
    seen = {}
    for row in rows.get(S_PRICES, []):
        c = _Checker(S_PRICES, row, problems)
        year_text = c.text("연도", required=True)
        year: int | None = None
        if year_text:
            if re.fullmatch(r"\d{4}", year_text) and 2000 <= int(year_text) <= 2100:
                year = int(year_text)
            else:
                c.fail("연도", BAD_YEAR, value=year_text)
        code_text = c.text("서비스 코드", required=True)
        code = _service_code(code_text) if code_text else None
        if code_text and code is None:
            c.fail("서비스 코드", UNKNOWN_SERVICE, value=code_text, choices=", ".join(SERVICE_NAMES))
        name = c.text("서비스 이름", required=True)
        unit = c.text("단위", required=True)
        price = c.number("단가(원)", required=True)
        cap = c.number("1인 한도(단위)")
        no_show = (c.number(C_NO_SHOW) or 0) if C_NO_SHOW in row.cells else None
        limit = c.number("연간 지원 한도(원)", required=True)
        active = c.active()
        if year is not None and code is not None:
            _unique(c, seen, (year, code), "서비스 코드", f"{year} {code}")
        if year is not None and limit is not None:
            if year in limits and limits[year][0] != limit:
                c.fail("연간 지원 한도(원)", LIMIT_DIFFERS, year=year, other=limits[year][1])
            limits.setdefault(year, (limit, row.number))
        if c.ok and year is not None and code is not None and price is not None:
            prices.append(PriceRow(year, code, name, unit, price, cap, active, no_show))

    if problems or district is None:
        raise WorkbookRejected(problems)
    return Plan(
        district=district,
        regions=regions,
        dongs=dongs,
        providers=providers,
        managers=managers,
        prices=prices,
        limits={year: amount for year, (amount, _) in limits.items()},
    )


def check(data: bytes) -> Plan:
    """Return the plan of a workbook file's bytes; raise WorkbookRejected (or InvalidInput if unreadable)."""
    return make_plan(read_workbook(data))


# ---------------------------------------------------------------- applying (one place: care/directory.py later)


@dataclass
class Applied:
    """What an import did: rows created and changed (0 and 0 for a file already in the database)."""

    district_id: int
    created: int = 0
    changed: int = 0
    unchanged: int = 0


def _set(row: Any, applied: Applied, **values: Any) -> bool:
    """Set values on a row; return True when something changed."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if changed:
        applied.changed += 1
    else:
        applied.unchanged += 1
    return changed


async def _district_for(session: AsyncSession, *, access: Access, code: str) -> District | None:
    district = (await session.execute(select(District).where(col(District.code) == code))).scalar_one_or_none()
    if district is not None and not access.sees(district.id):
        raise NotFound()
    if district is None and access.district_id is not None:
        raise WorkbookRejected([Problem(OTHER_DISTRICT, S_DISTRICT, FIRST_DATA_ROW, "구 코드", {"value": code})])
    return district


async def apply_plan(session: AsyncSession, *, access: Access, plan: Plan) -> Applied:
    """Write a checked plan (upsert by natural keys) in the caller's transaction; return the counts."""
    access.check_admin()
    d = plan.district
    district = await _district_for(session, access=access, code=d.code)
    if district is None:
        district = District(code=d.code, name=d.name, phone=d.phone, office_hours=d.office_hours, active=d.active)
        session.add(district)
        await session.flush()
        applied = Applied(district_id=district.id, created=1)  # type: ignore[arg-type]
    else:
        applied = Applied(district_id=district.id)  # type: ignore[arg-type]
        _set(district, applied, name=d.name, phone=d.phone, office_hours=d.office_hours, active=d.active)
    district_id = applied.district_id

    async def existing(model: Any) -> list[Any]:
        return list((await session.execute(select(model).where(col(model.district_id) == district_id))).scalars())

    regions = {r.name: r for r in await existing(Region)}
    for rr in plan.regions:
        region = regions.get(rr.name)
        if region is None:
            region = regions[rr.name] = Region(district_id=district_id, name=rr.name, active=rr.active)
            session.add(region)
            applied.created += 1
        else:
            _set(region, applied, active=rr.active)
    await session.flush()

    dongs = {x.name: x for x in await existing(Dong)}
    for dr in plan.dongs:
        region_id = regions[dr.region].id
        dong = dongs.get(dr.name)
        if dong is None:
            dong = dongs[dr.name] = Dong(district_id=district_id, region_id=region_id, name=dr.name, active=dr.active)  # type: ignore[arg-type]
            session.add(dong)
            applied.created += 1
        else:
            _set(dong, applied, region_id=region_id, active=dr.active)
    await session.flush()

    providers = {p.name: p for p in await existing(Provider)}
    for pr in plan.providers:
        provider = providers.get(pr.name)
        if provider is None:
            provider = Provider(
                district_id=district_id,
                name=pr.name,
                kind=pr.kind,
                phone=pr.phone,
                weekly_capacity=pr.weekly_capacity,
                active=pr.active,
            )
            session.add(provider)
            await session.flush()
            applied.created += 1
            changed = True
        else:
            changed = _set(
                provider, applied, kind=pr.kind, phone=pr.phone, weekly_capacity=pr.weekly_capacity, active=pr.active
            )
        await _replace_links(session, provider=provider, row=pr, regions=regions, counted=changed, applied=applied)

    matched = _match_managers(await existing(CareManager), plan.managers, {n: x.id for n, x in dongs.items()})
    for mr, dong_id, manager in matched:
        if manager is None:
            session.add(
                CareManager(
                    district_id=district_id,
                    dong_id=dong_id,
                    name=mr.name,
                    job_type=mr.job_type,
                    phone=mr.phone,
                    active=mr.active,
                )
            )
            applied.created += 1
        else:
            _set(manager, applied, job_type=mr.job_type, phone=mr.phone, active=mr.active)

    catalog = {(c.year, c.code): c for c in await existing(ServiceCatalog)}
    for p in plan.prices:
        entry = catalog.get((p.year, p.code))
        values: dict[str, Any] = {
            "name": p.name,
            "unit_label": p.unit_label,
            "unit_price": p.unit_price,
            "cap_units": p.cap_units,
            "active": p.active,
        }
        if p.no_show_units is not None:
            values["no_show_units"] = p.no_show_units
        if entry is None:
            session.add(ServiceCatalog(district_id=district_id, year=p.year, code=p.code, **values))
            applied.created += 1
        else:
            _set(entry, applied, **values)
    limits = {x.year: x for x in await existing(SupportLimit)}
    for year, amount in plan.limits.items():
        if year in limits:
            _set(limits[year], applied, annual_limit=amount)
        else:
            session.add(SupportLimit(district_id=district_id, year=year, annual_limit=amount))
            applied.created += 1
    await session.flush()
    await access.log(
        session,
        action="district_import",
        detail=f"{d.code}: {applied.created} created, {applied.changed} changed",
    )
    return applied


def _match_managers(
    existing: list[CareManager], rows: list[ManagerRow], dong_ids: dict[str, Any]
) -> list[tuple[ManagerRow, int, CareManager | None]]:
    """Pair each row with the care manager it describes (None: a new one).

    First by name, 동 and phone; then a row left over takes the one manager of its name and 동
    left over (their phone changed) — only when exactly one of each is left, else it is new.
    """
    taken: set[int | None] = set()
    exact: dict[tuple[str, int, str | None], CareManager] = {}
    for m in sorted(existing, key=lambda m: m.id or 0):
        exact.setdefault((m.name, m.dong_id, m.phone), m)
    pairs: list[tuple[ManagerRow, int, CareManager | None]] = []
    for mr in rows:
        dong_id = int(dong_ids[mr.dong])
        found = exact.get((mr.name, dong_id, mr.phone))
        if found is not None and found.id in taken:
            found = None
        if found is not None:
            taken.add(found.id)
        pairs.append((mr, dong_id, found))
    for i, (mr, dong_id, found) in enumerate(pairs):
        if found is not None:
            continue
        rows_left = [p for p in pairs if p[2] is None and (p[0].name, p[1]) == (mr.name, dong_id)]
        left = [m for m in existing if (m.name, m.dong_id) == (mr.name, dong_id) and m.id not in taken]
        if len(rows_left) == 1 and len(left) == 1:
            taken.add(left[0].id)
            pairs[i] = (mr, dong_id, left[0])
    return pairs


async def _replace_links(
    session: AsyncSession,
    *,
    provider: Provider,
    row: ProviderRow,
    regions: dict[str, Region],
    counted: bool,
    applied: Applied,
) -> None:
    """Make the provider's services and regions exactly the row's lists."""
    pid = provider.id
    services = {
        s.service_code: s
        for s in (
            await session.execute(select(ProviderService).where(col(ProviderService.provider_id) == pid))
        ).scalars()
    }
    links = {
        x.region_id: x
        for x in (await session.execute(select(ProviderRegion).where(col(ProviderRegion.provider_id) == pid))).scalars()
    }
    changed = False
    for code, cap in row.services.items():
        if code not in services:
            session.add(ProviderService(provider_id=pid, service_code=code, weekly_capacity=cap))  # type: ignore[arg-type]
            changed = True
        elif services[code].weekly_capacity != cap:
            services[code].weekly_capacity = cap
            changed = True
    for code, service in services.items():
        if code not in row.services:
            await session.delete(service)
            changed = True
    wanted = {regions[name].id: name in row.leads for name in row.regions}
    for region_id, lead in wanted.items():
        if region_id not in links:
            session.add(ProviderRegion(provider_id=pid, region_id=region_id, is_lead=lead))  # type: ignore[arg-type]
            changed = True
        elif links[region_id].is_lead != lead:
            links[region_id].is_lead = lead
            changed = True
    for region_id, link in links.items():
        if region_id not in wanted:
            await session.delete(link)
            changed = True
    if changed and not counted:
        applied.changed += 1
        applied.unchanged -= 1
    await session.flush()


async def import_workbook(session: AsyncSession, *, access: Access, data: bytes) -> Applied:
    """Check every row of a workbook file, then import all of it; raise WorkbookRejected and change nothing."""
    access.check_admin()
    plan = check(data)
    try:
        return await apply_plan(session, access=access, plan=plan)
    except IntegrityError as err:  # another import added the same district, 권역 or 동 meanwhile
        raise ConflictError() from err


# ---------------------------------------------------------------- writing


def _new_book() -> Any:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    book = Workbook()
    book.remove(book.active)
    bold, hint_font = Font(bold=True), Font(italic=True, color="666666")
    fill = PatternFill("solid", fgColor="E8EEF7")
    for name, columns in SHEETS.items():
        sheet = book.create_sheet(name)
        for i, column in enumerate(columns, start=1):
            head = sheet.cell(row=1, column=i, value=column.header)
            head.font, head.fill = bold, fill
            sheet.cell(row=2, column=i, value=column.hint).font = hint_font
            sheet.column_dimensions[head.column_letter].width = column.width
        sheet.freeze_panes = "A3"
    return book


def _write_rows(book: Any, name: str, rows: Iterable[list[Any]]) -> None:
    sheet = book[name]
    for r, values in enumerate(rows, start=FIRST_DATA_ROW):
        for c, value in enumerate(values, start=1):
            cell = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                cell.number_format = "@"
                # openpyxl turns a text starting with "=" into a formula: a name typed as
                # "=HYPERLINK(...)" must come back as the text it is, and never run.
                cell.data_type = "s"


def _save(book: Any) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _yes(active: bool) -> str:
    return YES if active else NO


def _phone(value: str | None) -> str:
    if not value:
        return ""
    try:
        return parsing.format_phone(value)
    except InvalidInput:  # a number stored before numbers were checked: shown as it is
        return value


EXAMPLE_YEAR = 2026


def template() -> bytes:
    """Return an empty workbook: Korean headers, a hint row and one example row per sheet."""
    book = _new_book()
    _write_rows(book, S_DISTRICT, [["mapo", "마포구", "02-3153-8000", "평일 9시~18시", YES]])
    _write_rows(book, S_REGIONS, [["1권역", YES]])
    _write_rows(book, S_DONGS, [["공덕동", "1권역", YES]])
    _write_rows(
        book,
        S_PROVIDERS,
        [["마포나눔밥상 협동조합", "협동조합", "02-711-1234", "식사지원", 30, "", "1권역", "1권역", YES]],
    )
    _write_rows(book, S_MANAGERS, [["이민정", "공덕동", "사회복지직", "02-3153-9000", YES]])
    _write_rows(
        book,
        S_PRICES,
        [
            [EXAMPLE_YEAR, d.code.value, d.name, d.unit_label, d.unit_price, d.cap_units, 1_520_000, YES, 0]
            for d in DEFAULTS
        ],
    )
    return _save(book)


async def export(session: AsyncSession, *, access: Access, district_id: int) -> bytes:
    """Return the district's directory as a workbook in the import format (the download is logged)."""
    access.check_admin()
    district = await session.get(District, district_id)
    if district is None or not access.sees(district_id):
        raise NotFound()

    async def rows_of(model: Any, *order: Any) -> list[Any]:
        query = select(model).where(col(model.district_id) == district_id).order_by(*order)
        return list((await session.execute(query)).scalars())

    regions = await rows_of(Region, col(Region.name))
    region_names = {r.id: r.name for r in regions}
    dongs = await rows_of(Dong, col(Dong.name))
    dong_names = {x.id: x.name for x in dongs}
    providers = await rows_of(Provider, col(Provider.name))
    ids = [p.id for p in providers]
    services: dict[int, list[ProviderService]] = {}
    for s in (
        await session.execute(select(ProviderService).where(col(ProviderService.provider_id).in_(ids)))
    ).scalars():
        services.setdefault(s.provider_id, []).append(s)
    links: dict[int, list[ProviderRegion]] = {}
    for x in (await session.execute(select(ProviderRegion).where(col(ProviderRegion.provider_id).in_(ids)))).scalars():
        links.setdefault(x.provider_id, []).append(x)
    managers = await rows_of(CareManager, col(CareManager.name), col(CareManager.id))
    catalog = await rows_of(ServiceCatalog, col(ServiceCatalog.year), col(ServiceCatalog.id))
    limits = {x.year: x.annual_limit for x in await rows_of(SupportLimit, col(SupportLimit.year))}
    order = {d.code.value: i for i, d in enumerate(DEFAULTS)}

    book = _new_book()
    _write_rows(
        book,
        S_DISTRICT,
        [[district.code, district.name, _phone(district.phone), district.office_hours or "", _yes(district.active)]],
    )
    _write_rows(book, S_REGIONS, [[r.name, _yes(r.active)] for r in regions])
    _write_rows(book, S_DONGS, [[x.name, region_names.get(x.region_id, ""), _yes(x.active)] for x in dongs])
    provider_rows = []
    for p in providers:
        offered = sorted(services.get(p.id, []), key=lambda s: order.get(s.service_code, 99))
        served = sorted(links.get(p.id, []), key=lambda x: region_names.get(x.region_id, ""))
        provider_rows.append(
            [
                p.name,
                PROVIDER_KINDS.get(p.kind, p.kind),
                _phone(p.phone),
                ", ".join(SERVICE_NAMES.get(s.service_code, s.service_code) for s in offered),
                p.weekly_capacity,
                ", ".join(
                    f"{SERVICE_NAMES.get(s.service_code, s.service_code)} {s.weekly_capacity}"
                    for s in offered
                    if s.weekly_capacity is not None
                ),
                ", ".join(region_names.get(x.region_id, "") for x in served),
                ", ".join(region_names.get(x.region_id, "") for x in served if x.is_lead),
                _yes(p.active),
            ]
        )
    _write_rows(book, S_PROVIDERS, provider_rows)
    _write_rows(
        book,
        S_MANAGERS,
        [
            [
                m.name,
                dong_names.get(m.dong_id, ""),
                JOB_TYPES.get(m.job_type, m.job_type),
                _phone(m.phone),
                _yes(m.active),
            ]
            for m in managers
        ],
    )
    catalog.sort(key=lambda c: (c.year, order.get(c.code, 99), c.code))
    _write_rows(
        book,
        S_PRICES,
        [
            [
                c.year,
                c.code,
                c.name,
                c.unit_label,
                c.unit_price,
                c.cap_units,
                limits.get(c.year, ""),
                _yes(c.active),
                c.no_show_units,
            ]
            for c in catalog
        ],
    )
    await access.log(session, action="district_export", detail=district.code)
    return _save(book)


async def district_id_by_code(session: AsyncSession, *, access: Access, code: str | None) -> int:
    """Return the id of the district with this code (or the only one visible when code is None); NotFound otherwise."""
    query = select(District).order_by(col(District.id))
    if code:
        query = query.where(col(District.code) == code)
    found = [x for x in (await session.execute(query)).scalars() if access.sees(x.id)]
    if code and found:
        return found[0].id  # type: ignore[return-value]
    if len(found) == 1:
        return found[0].id  # type: ignore[return-value]
    raise NotFound(N_("Please name the district by its code (--district CODE)."))


async def list_districts(session: AsyncSession, *, access: Access) -> list[District]:
    """Return the districts whose workbook this admin may download, in code order."""
    access.check_admin()
    query = select(District).order_by(col(District.code))
    if access.district_id is not None:
        query = query.where(col(District.id) == access.district_id)
    return list((await session.execute(query)).scalars())
