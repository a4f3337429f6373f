"""What the district set-up pages take (console/routes/directory.py, console/routes/first_run.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, create_model

from care import directory
from care.catalog import DEFAULTS
from console.forms import Count, Flag, Id, In, Money, OptCount, ShortText, Year, choice

SERVICE_CODES = tuple(d.code.value for d in DEFAULTS)

if TYPE_CHECKING:
    Kind = str | None
    Job = str | None
else:
    Kind = choice(directory.PROVIDER_KIND)
    Job = choice(directory.JOB_TYPE)


class FirstAdmin(In):
    token: Annotated[str, Field(max_length=200)] = ""
    username: ShortText = ""
    password: Annotated[str, Field(max_length=300)] = ""
    again: Annotated[str, Field(max_length=300)] = ""


class DistrictForm(In):
    code: ShortText = ""
    name: ShortText = ""
    phone: ShortText = ""
    office_hours: ShortText = ""
    active: Flag = True


class DistrictEdit(DistrictForm):
    active: Flag = False


class RegionForm(In):
    name: ShortText = ""
    active: Flag = True


class RegionEdit(RegionForm):
    active: Flag = False


class DongForm(In):
    name: ShortText = ""
    region_id: Id
    active: Flag = True


class DongEdit(DongForm):
    active: Flag = False


class CareManagerForm(In):
    name: ShortText = ""
    dong_id: Id
    job_type: Job = "social_worker"
    phone: ShortText = ""
    active: Flag = True


class CareManagerEdit(CareManagerForm):
    active: Flag = False


def _provider_model() -> Any:
    fields: dict[str, Any] = {
        "name": (ShortText, ""),
        "kind": (Kind, "social_enterprise"),
        "phone": (ShortText, ""),
        "weekly_capacity": (Count, 20),
        "active": (Flag, False),
        "regions": (list[Id], []),
        "leads": (list[Id], []),
    }
    for code in SERVICE_CODES:
        fields[f"svc_{code}"] = (Flag, False)
        fields[f"cap_{code}"] = (OptCount, None)
    return create_model("ProviderForm", __base__=In, **fields)


ProviderForm: Any = _provider_model()


def provider_setup(form: Any) -> directory.ProviderSetup:
    """Return what a provider form says the provider offers, where and leads."""
    return directory.ProviderSetup(
        services={c: getattr(form, f"cap_{c}") for c in SERVICE_CODES if getattr(form, f"svc_{c}")},
        regions=set(form.regions),
        lead_regions=set(form.leads),
    )


class SupportLimitForm(In):
    district_id: Id
    year: Year
    annual_limit: Money


class CopyYearForm(In):
    district_id: Id
    year: Year


def parse_provider(data: Any) -> Any:
    """Return a provider form parsed (several checked 권역 arrive as repeated fields)."""
    from console import forms

    values: dict[str, Any] = {"regions": [], "leads": []}
    for key, value in data.multi_items():
        if not isinstance(value, str):
            continue
        if key in ("regions", "leads"):
            values[key].append(value)
        else:
            values[key] = value
    return forms.parse(ProviderForm, values)
