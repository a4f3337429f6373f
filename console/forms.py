"""What a person may send to the console, as pydantic models shared by the pages and the JSON API.

Routes never pick values out of a form or a query string by hand: they take one of these models
(`Annotated[Model, Form()]`, `Annotated[Model, Query()]`, a JSON body) or call `parse()`. Every
number has bounds (an id never leaves PostgreSQL's int4, an offset never runs to the end of the
world), every date is a real date, every choice is one of its values. What does not fit is a 400
with a Korean message naming the fields (console/app.py), never a 500.

HTML forms send "" for an empty field: `Blank` types read "" as "not given". The API documents the
same (its OpenAPI schema allows "" where a form would send it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from care import catalog, orders, parsing, queue, registration_numbers
from dolbom import clock
from dolbom.errors import AppError, InvalidInput
from dolbom.i18n import N_, gettext

INT4_MAX = 2_147_483_647  # PostgreSQL's integer: every id and count column
MAX_OFFSET = 1_000_000
MAX_TEXT = 2000

M = TypeVar("M", bound=BaseModel)


def _blank(value: Any) -> Any:
    """An empty form field (or one of spaces) is "not given"."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _no(value: Any) -> Any:
    """A checkbox or yes/no select sends "yes" or nothing ("" when blank); JSON sends true/false."""
    if isinstance(value, str):
        return {"": False, "yes": True, "no": False}.get(value.strip().lower(), value)
    return value


def _number(value: Any) -> Any:
    """Forms send numbers as text: read digits; JSON's true/false are not numbers."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if not re.fullmatch(r"-?\d{1,12}", text):
            raise ValueError("not a number")
        return int(text)
    return value


def number(low: int, high: int, *, optional: bool = False, description: str | None = None) -> Any:
    """Return a whole-number field type from low to high (as JSON or as a form's text; "" = not given)."""
    variants: list[dict[str, Any]] = [
        {"type": "integer", "minimum": low, "maximum": high},
        {"type": "string", "pattern": r"^\s*-?\d{1,12}\s*$", "description": "a form's digits"},
    ]
    if optional:
        variants += [{"type": "null"}, {"const": ""}]
    schema: dict[str, Any] = {"anyOf": variants}
    if description:
        schema["description"] = description
    core = Annotated[StrictInt, Field(ge=low, le=high)]
    return Annotated[core | None if optional else core, BeforeValidator(_number), WithJsonSchema(schema)]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# -------------------------------------------------------------- the shared field types

if TYPE_CHECKING:  # what the checker sees; pydantic sees the bounded types below
    Id: TypeAlias = int
    Version: TypeAlias = int
    Offset: TypeAlias = int
    Limit: TypeAlias = int
    ApiLimit: TypeAlias = int
    Weekday: TypeAlias = int
    Money: TypeAlias = int
    Count: TypeAlias = int
    Year: TypeAlias = int
    OptId: TypeAlias = int | None
    OptUnits: TypeAlias = int | None
    OptAge: TypeAlias = int | None
    OptBirthYear: TypeAlias = int | None
    OptCount: TypeAlias = int | None
    OptYear: TypeAlias = int | None
else:
    Id = number(1, INT4_MAX)
    Version = number(0, INT4_MAX, description="the version the change is based on (409 when stale)")
    OptId = number(1, INT4_MAX, optional=True)
    Offset = number(0, MAX_OFFSET)
    Limit = number(1, 500)
    ApiLimit = number(1, 200)
    OptUnits = number(0, 9999, optional=True, description="complete: the units delivered")
    OptAge = number(1, 14, optional=True)
    OptBirthYear = number(1900, 2100, optional=True)
    Weekday = number(0, 6)
    Money = number(0, 100_000_000)
    Count = number(0, 100_000)
    OptCount = number(0, 100_000, optional=True)
    Year = number(2000, 2100)
    OptYear = number(2000, 2100, optional=True)

PathId = Annotated[int, Path(ge=1, le=INT4_MAX, description="a record id (1 … 2147483647)")]
# Strict: JSON's 0, 1 and null are refused, as the schema says; forms' "yes" / "" are read as they mean.
Flag = Annotated[
    StrictBool, BeforeValidator(_no), WithJsonSchema({"anyOf": [{"type": "boolean"}, {"enum": ["yes", "no", ""]}]})
]
Tri = Annotated[Literal["yes", "no"] | None, BeforeValidator(_blank)]
Text = Annotated[str, BeforeValidator(_strip), Field(max_length=MAX_TEXT)]
ShortText = Annotated[str, BeforeValidator(_strip), Field(max_length=200)]
OptDate = Annotated[date | None, BeforeValidator(_blank)]


def choice(values: Iterable[str]) -> Any:
    """Return an optional field type that takes one of the values ("" = not given)."""
    allowed = tuple(values)

    def check(value: str | None) -> str | None:
        if value is not None and value not in allowed:
            raise ValueError("not one of the choices")
        return value

    schema = {"anyOf": [{"type": "string", "enum": [*allowed, ""]}, {"type": "null"}]}
    return Annotated[str | None, BeforeValidator(_blank), AfterValidator(check), WithJsonSchema(schema)]


class In(BaseModel):
    """Base of every input model: unknown fields (the form's csrf_token) are ignored."""

    model_config = ConfigDict(extra="ignore", str_max_length=MAX_TEXT)


# -------------------------------------------------------------- labels for error messages

LABELS: dict[str, str] = {
    "version": N_("version"),
    "provider_id": N_("provider"),
    "reason": N_("reason"),
    "units": N_("units"),
    "approve": N_("approval"),
    "q": N_("search words"),
    "format": N_("file format"),
    "offset": N_("page"),
    "limit": N_("page size"),
    "status": N_("status"),
    "service": N_("service"),
    "region": N_("region"),
    "dong": N_("dong"),
    "dong_id": N_("dong"),
    "source": N_("source"),
    "urgency": N_("urgency"),
    "age": N_("waiting time"),
    "username": N_("user name"),
    "action": N_("action"),
    "resident_id": N_("resident number"),
    "since": N_("start date"),
    "until": N_("end date"),
    "weekdays": N_("days of the week"),
    "time": N_("time of day"),
    "second_time": N_("second time of day"),
    "outcome": N_("what happened"),
    "paused_until": N_("paused until"),
    "name": N_("name"),
    "phone": N_("phone"),
    "address": N_("address"),
    "birth_year": N_("birth year"),
    "income_tier": N_("income group"),
    "requested_date": N_("preferred date"),
    "notes": N_("notes"),
    "district_id": N_("district"),
    "role": N_("role"),
    "display_name": N_("display name"),
    "password": N_("password"),
    "unit_price": N_("unit price"),
    "cap_units": N_("cap"),
    "year": N_("year"),
    "weekly_capacity": N_("weekly capacity"),
    "target": N_("invite for"),
    "text": N_("message"),
    "data": N_("button"),
    "body": N_("request body"),
    "consulted_on": N_("date of the consulting"),
    "consultant": N_("who consulted"),
    "planned_on": N_("planned date"),
    "due_on": N_("due date"),
    "done_on": N_("date of the visit"),
    "kind": N_("kind"),
    "position": N_("position"),
}


def label(field: str) -> str:
    """Return the Korean name of a field for an error message."""
    return gettext(LABELS[field]) if field in LABELS else field


class InvalidFields(InvalidInput):
    """Some answers of a form or a request do not fit; `messages` says what, field by field (msgids)."""

    msgid = N_("Please check these answers: {fields}")

    def __init__(self, messages: dict[str, str]) -> None:
        self.messages = messages
        self.fields = list(messages)
        super().__init__(fields=", ".join(dict.fromkeys(label(f) for f in messages)))

    def translated(self) -> dict[str, str]:
        """Return the Korean message of each field."""
        return {key: gettext(msgid) for key, msgid in self.messages.items()}


def says(msgid: str) -> PydanticCustomError:
    """Return a validation error that carries a msgid for the person (shown next to the field)."""
    return PydanticCustomError("dolbom", "{msgid}", {"msgid": msgid})


def messages_of(errors: list[Any]) -> dict[str, str]:
    """Return {field: msgid} for pydantic (or FastAPI) errors, in order."""
    out: dict[str, str] = {}
    for err in errors:
        loc = [str(part) for part in err.get("loc", ()) if not isinstance(part, int)]
        # ("body", "units"), ("query", "offset"), ("path", "order_id"), ("units",)
        rest = [p for p in loc if p not in ("body", "query", "path", "header", "cookie")]
        name = rest[0] if rest else (loc[-1] if loc else "form")
        ctx = err.get("ctx") or {}
        out.setdefault(name, ctx["msgid"] if err.get("type") == "dolbom" else InvalidInput.msgid)
    return out


def _care(parse: Any) -> Any:
    """Wrap one of care.parsing's parsers so its refusal becomes this field's message."""

    def run(value: Any) -> Any:
        try:
            return parse(value)
        except AppError as err:
            raise says(err.msgid) from None

    return run


def parse(model: type[M], data: Any) -> M:
    """Return the data (a form, a mapping) parsed by the model; raise InvalidFields naming what does not fit."""
    if hasattr(data, "multi_items"):
        values: dict[str, Any] = {}
        for key, value in data.multi_items():
            if not isinstance(value, str):
                continue  # an uploaded file where text belongs: ignored, as no form here takes files
            if key in values:
                values[key] = [*values[key], value] if isinstance(values[key], list) else [values[key], value]
            else:
                values[key] = value
        data = values
    try:
        return model.model_validate(data)
    except ValidationError as err:
        refuse_in_errors(err.errors())
        raise InvalidFields(messages_of(err.errors())) from None


def refuse_in_errors(errors: Iterable[Any]) -> None:
    """Raise RegistrationNumberRefused when a value that failed validation holds one.

    A field that does not parse (a date, a number) never reaches care's check; the refusal must
    still be the kind one, and the value is not echoed back in a field message.
    """
    registration_numbers.refuse_in([e.get("input") for e in errors if isinstance(e, dict)])


# -------------------------------------------------------------- orders and the queue

OrderActionName = Literal[
    "screen", "assign", "reassign", "return", "complete", "cancel", "reject", "note", "desk_complete", "refer"
]


class OrderAction(In):
    """A desk action on an order (the order page's forms and POST /api/orders/{id}/{action})."""

    version: Version
    provider_id: OptId = None
    reason: Text | None = None
    units: OptUnits = None
    approve: Flag = Field(default=False, description="complete: approve units above the plan or the cap")
    override: Flag = Field(
        default=False, description="assign/reassign: a provider outside the service or region, with a reason"
    )
    given_by: ShortText | None = Field(default=None, description="desk_complete/refer: who gave it")
    referred_to: ShortText | None = Field(default=None, description="refer: the 보건소 (or office) referred to")
    consult: Literal["basic", "simple"] | None = Field(
        default=None, description="desk_complete of 정보제공·상담: basic (기초상담) or simple (단순안내)"
    )


def _age(days: int) -> int:
    if days not in queue.AGE_DAYS:
        raise ValueError("not one of the choices")
    return days


class QueueFilters(In):
    """The queue's filters (the queue page, its rows, GET /api/orders)."""

    status: choice(queue.ALL_STATUSES) = None  # type: ignore[valid-type]
    service: choice(d.code.value for d in catalog.DEFAULTS) = None  # type: ignore[valid-type]
    region: OptId = None
    dong: OptId = None
    source: choice(orders.SOURCES) = None  # type: ignore[valid-type]
    urgency: choice(orders.URGENCIES) = None  # type: ignore[valid-type]
    age: Annotated[OptAge, AfterValidator(_age)] = None
    tab: choice(queue.TABS) = None  # type: ignore[valid-type]
    sort: choice([*queue.SORTS, *(f"-{k}" for k in queue.SORTS)]) = None  # type: ignore[valid-type]
    after: Annotated[str, BeforeValidator(_strip), Field(max_length=400, pattern=r"^[A-Za-z0-9_-]*$")] = ""
    page: Annotated[int, Field(ge=1, le=MAX_OFFSET)] = 1

    def filters(self, *, default_tab: str = "desk") -> queue.Filters:
        """Return the care layer's filters (the console's queue opens on the desk's to-do tab)."""
        return queue.Filters(
            status=self.status,
            service=self.service,
            region_id=self.region,
            dong_id=self.dong,
            source=self.source,
            urgency=self.urgency,
            min_age_days=self.age,
            tab=self.tab or default_tab,
            sort=self.sort,
        )


class Page(In):
    """Where a list starts (and, in the API, how long it is)."""

    offset: Offset = 0
    limit: Limit = 100


class Search(In):
    """Words to look for (sent in a POST body, so names never end up in a URL)."""

    q: Annotated[str, BeforeValidator(_strip), Field(max_length=100)] = ""


class Export(In):
    """An export: the same search as the list, and CSV or XLSX."""

    q: Annotated[str, BeforeValidator(_strip), Field(max_length=100)] = ""
    format: Literal["csv", "xlsx"] = "csv"
    # Why the download is needed: required by care.residents.export, written to the access log.
    reason: Annotated[str, BeforeValidator(_strip), Field(max_length=200)] = ""


# -------------------------------------------------------------- residents and intake

IncomeTier = Literal["basic", "near_poor", "general", "unknown"]


class ResidentEdit(In):
    """The desk's edit of a resident (care.residents.update checks phone, birth year, dong)."""

    name: ShortText | None = None
    phone: ShortText | None = None
    address: Annotated[str, BeforeValidator(_strip), Field(max_length=300)] | None = None
    dong_id: OptId = None
    birth_year: OptBirthYear = None
    disabled: Tri = None
    lives_alone: Tri = None
    cannot_manage_alone: Tri = None
    no_public_service: Tri = None
    no_family_care: Tri = None
    income_tier: Annotated[IncomeTier | None, BeforeValidator(_blank)] = None
    needs_phone_call: Flag = False
    died_on: OptDate = None
    moved_out_on: OptDate = None

    def values(self) -> dict[str, Any]:
        """Return the fields the form sent, as care.residents.update takes them."""
        out: dict[str, Any] = {}
        for key in self.model_fields_set:
            value = getattr(self, key)
            if key in ("disabled", "lives_alone", "cannot_manage_alone", "no_public_service", "no_family_care"):
                value = {"yes": True, "no": False}.get(value or "")
            elif value is None:
                value = ""
            out[key] = value
        return out


def _required(value: str) -> str:
    if not value:
        raise says(N_("Please fill this in."))
    return value


def _service(value: str) -> str:
    if value not in catalog.BY_CODE:
        raise says(N_("Please choose a service."))
    return value


def _consent(value: bool) -> bool:
    if not value:
        raise says(N_("A request can only be stored with consent."))
    return value


def _units(value: Any) -> Any:
    value = _blank(value)
    if value is None:
        return 1
    try:
        number = int(str(value).strip())
    except ValueError:
        raise says(InvalidInput.msgid) from None
    if not 1 <= number <= 999:
        raise says(N_("Please give at least one unit."))
    return number


class Intake(In):
    """The phone intake form; phone, birth year and date are read by care.parsing's Korean parsers."""

    # An empty form says what is missing, field by field.
    model_config = ConfigDict(extra="ignore", str_max_length=MAX_TEXT, validate_default=True)

    name: Annotated[ShortText, AfterValidator(_required)] = ""
    phone: Annotated[str, BeforeValidator(_strip), Field(max_length=40), AfterValidator(_care(parsing.parse_phone))] = (
        ""
    )
    birth_year: Annotated[
        int | None,
        BeforeValidator(lambda v: _blank(v) and _care(lambda t: parsing.parse_birth_year(t, today=clock.today()))(v)),
    ] = None
    requested_date: Annotated[
        date | None,
        BeforeValidator(lambda v: _blank(v) and _care(lambda t: parsing.parse_date(t, today=clock.today()))(v)),
    ] = None
    units: Annotated[int, BeforeValidator(_units)] = 1
    service: Annotated[ShortText, AfterValidator(_service)] = ""
    consent: Annotated[Flag, AfterValidator(_consent)] = False
    sensitive_consent: Flag = False
    district_id: OptId = None
    dong_id: OptId = None
    address: Annotated[str, BeforeValidator(_strip), Field(max_length=300)] = ""
    disabled: Tri = None
    cannot_manage_alone: Tri = None
    no_public_service: Tri = None
    no_family_care: Tri = None
    income_tier: Annotated[IncomeTier, BeforeValidator(lambda v: _blank(v) or "unknown")] = "unknown"
    urgency: Annotated[Literal["normal", "urgent"], BeforeValidator(lambda v: _blank(v) or "normal")] = "normal"
    notes: Text = ""
    from_health_center: Flag = False


# -------------------------------------------------------------- check-ins


class CheckinSchedule(In):
    """A resident's check-in schedule (weekdays 0 = Monday, a time "HH:MM")."""

    weekdays: list[Weekday] = Field(default_factory=list, max_length=7)
    time: Annotated[str, BeforeValidator(_strip), Field(pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")] | None = None
    paused_until: OptDate = None
    alert_family: Flag = False
    alert_care_manager: Flag = False
    stop: Flag = False

    @field_validator("weekdays", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if value is None or value == "":
            return []
        return value if isinstance(value, list) else [value]

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        return _blank(value)

    second_time: Annotated[str, BeforeValidator(_strip), Field(pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")] | None = None

    @field_validator("second_time", mode="before")
    @classmethod
    def _second(cls, value: Any) -> Any:
        return _blank(value)

    @property
    def at_minute(self) -> int:
        """Minutes after midnight, or -1 when no time was given (care says so kindly)."""
        if not self.time:
            return -1
        hh, mm = self.time.split(":")
        return int(hh) * 60 + int(mm)

    @property
    def second_minute(self) -> int | None:
        """The second time of day in minutes after midnight, or None."""
        if not self.second_time:
            return None
        hh, mm = self.second_time.split(":")
        return int(hh) * 60 + int(mm)


CheckinOutcome = Literal["called_ok", "visit", "emergency", "family_ok"]


class CheckinFollowup(In):
    """The desk's follow-up of a check-in nobody answered (care.checkins.FOLLOWUPS) with an optional note."""

    outcome: CheckinOutcome
    note: ShortText | None = None


# -------------------------------------------------------------- admin

Role = Literal["admin", "operator", "viewer"]


class AccessLogFilters(In):
    """The access log's search (the page's query string and the export's form)."""

    username: Annotated[ShortText | None, BeforeValidator(_blank)] = None
    action: Annotated[ShortText | None, BeforeValidator(_blank)] = None
    resident_id: OptId = None
    since: OptDate = None
    until: OptDate = None
    format: Literal["csv", "xlsx"] = "csv"
    # Asked at export time and written to the access log; the page's search leaves it empty.
    reason: Annotated[Annotated[str, Field(max_length=200)] | None, BeforeValidator(_blank)] = None


class OperatorCreate(In):
    username: ShortText = ""
    display_name: ShortText = ""
    password: Annotated[str, Field(max_length=200)] = ""
    role: Role = "operator"
    district_id: OptId = None
    must_change: Flag = False


class OperatorUpdate(In):
    role: Role
    active: Flag = False
    unlock: Flag = False
    password: Annotated[str, Field(max_length=200)] = ""
    must_change: Flag = False


class CatalogEntry(In):
    unit_price: Money
    cap_units: OptCount = None
    no_show_units: OptCount = None
    active: Flag = False


class CatalogYear(In):
    district_id: Id
    year: Year


class CatalogQuery(In):
    district: OptId = None
    year: OptYear = None


class InviteCreate(In):
    target: Annotated[str, Field(pattern=r"^(cm|pv):\d{1,10}$")]

    @property
    def kind(self) -> str:
        return self.target.partition(":")[0]

    @property
    def target_id(self) -> int | None:
        value = int(self.target.partition(":")[2])
        return value if 1 <= value <= INT4_MAX else None


class ProviderUpdate(In):
    weekly_capacity: Count
    active: Flag = False


class ProviderConsulting(In):
    """The pre-registration consulting of a new provider (care.registration)."""

    consulted_on: OptDate = None
    consultant: ShortText = ""
    note: Annotated[Text | None, BeforeValidator(_blank)] = None


# -------------------------------------------------------------- monitoring (care.monitoring)


class MonitoringItemNew(In):
    text: ShortText = ""


class MonitoringItemEdit(In):
    text: ShortText = ""
    position: Count = 0
    active: Flag = False


class InspectionPlan(In):
    provider_id: Id
    kind: Literal["regular", "adhoc"] = "regular"
    planned_on: OptDate = None
    reason: Annotated[Text | None, BeforeValidator(_blank)] = None


class InspectionFollowup(In):
    text: ShortText = ""
    due_on: OptDate = None


class FollowupDone(In):
    note: Annotated[ShortText | None, BeforeValidator(_blank)] = None


class InspectionDone(In):
    done_on: OptDate = None
    summary: Annotated[Text | None, BeforeValidator(_blank)] = None
