"""The district workbook: every mistake refused whole with one Korean message each, idempotent import, round trip."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from care import workbook as wb
from care.auth import Access
from dolbom.errors import InvalidInput, NotFound
from storage.db import Database
from storage.models import (
    AccessLog,
    CareManager,
    District,
    Dong,
    Provider,
    ProviderRegion,
    ProviderService,
    Region,
)
from tests import factories, workbooks

ADMIN_ALL = Access(operator_id=None, username="admin", ip=None, district_id=None, role="admin")


async def _counts(db: Database) -> dict[str, int]:
    async with db.sessions() as s:
        return {m.__tablename__: (await s.execute(select(func.count()).select_from(m))).scalar_one() for m in wb.TABLES}  # type: ignore[attr-defined]


async def _import(db: Database, data: bytes, access: Access = ADMIN_ALL) -> wb.Applied:
    async with db.transaction() as s:
        return await wb.import_workbook(s, access=access, data=data)


def _cells(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(data))
    return {name: [tuple(r) for r in book[name].iter_rows(values_only=True)] for name in book.sheetnames}


def _messages(err: wb.WorkbookRejected) -> list[str]:
    return [wb.render(p) for p in err.problems]


def _spoiled() -> bytes:
    rows = workbooks.district_rows()
    rows[wb.S_DONGS] += [["서부동", "서부권역", "예"], ["홍제1동", "북부권역", "예"]]
    providers = rows[wb.S_PROVIDERS]
    providers[0][2] = "02-12"  # row 3: a phone that is not one
    providers[1][7] = "북부권역"  # row 4: a second lead for 북부권역
    providers[2][4] = "열"  # row 5: capacity in words
    providers[3][6] = "북부권역, 동부권역"  # row 6: a region that does not exist
    providers.append(["행복 800101-1234567", "협동조합", "", "식사지원", 5, "", "북부권역", "", "예"])  # row 7
    managers = rows[wb.S_MANAGERS]
    managers[0][2] = "간호사"  # row 3: no such job type
    managers[1][4] = "몰라"  # row 4: neither 예 nor 아니오
    prices = rows[wb.S_PRICES]
    prices[0][1] = "massage"  # row 3
    prices[1][4] = -100  # row 4
    prices[2][2] = ""  # row 5: the service's name left empty
    prices[3][6] = 1_000_000  # row 6: another annual limit for the same year
    return workbooks.build(rows, drop_sheets=(wb.S_DISTRICT,), drop_columns={wb.S_MANAGERS: "전화"})


EXPECTED = [
    "'자치구' 시트가 없어요. 서식 파일에서 그 시트를 가져와 주세요.",
    "돌봄매니저 시트: '전화' 열이 없어요. 서식 파일의 첫 줄을 그대로 두세요.",
    "행정동 시트 9행 '권역' 열: 권역 시트에 '서부권역' 권역이 없어요.",
    "행정동 시트 10행 '행정동' 열: 같은 것이 3행에도 있어요: '홍제1동'. 한 번만 적어 주세요.",
    "제공기관 시트 3행 '전화' 열: 전화번호가 맞지 않아요 (지금 적힌 값: '02-12'). 02-123-4567처럼 적어 주세요.",
    "제공기관 시트 4행 '책임 권역' 열: '북부권역' 책임기관이 3행에 이미 있어요. 권역마다 책임기관은 한 곳이에요.",
    "제공기관 시트 5행 '주간 정원' 열: 숫자로 적어 주세요 (지금 적힌 값: '열').",
    "제공기관 시트 6행 '담당 권역' 열: 권역 시트에 '동부권역' 권역이 없어요.",
    "제공기관 시트 7행 '기관명' 열: 주민등록번호처럼 보여요. 여기에는 적을 수 없어요.",
    "돌봄매니저 시트 3행 '직렬' 열: 이 중에서 하나를 적어 주세요: 사회복지직 / 간호직 (지금 적힌 값: '간호사').",
    "돌봄매니저 시트 4행 '사용 여부' 열: 이 중에서 하나를 적어 주세요: 예 / 아니오 (지금 적힌 값: '몰라').",
    "서비스 단가 시트 3행 '서비스 코드' 열: 모르는 서비스예요: 'massage'."
    " 이 중에서 적어 주세요: home_care, short_stay, escort, housing, meals, checkin, health, info.",
    "서비스 단가 시트 4행 '단가(원)' 열: 0 이상으로 적어 주세요 (지금 적힌 값: '-100').",
    "서비스 단가 시트 5행 '서비스 이름' 열: 비어 있어요. 채워 주세요.",
    "서비스 단가 시트 6행 '연간 지원 한도(원)' 열: 2026년 연간 지원 한도가 3행과 달라요."
    " 같은 해에는 같은 금액을 적어 주세요.",
]


async def test_a_workbook_with_fifteen_kinds_of_mistakes_is_refused_whole_with_one_message_each(db: Database) -> None:
    before = await _counts(db)
    with pytest.raises(wb.WorkbookRejected) as caught:
        await _import(db, _spoiled())
    assert _messages(caught.value) == EXPECTED
    assert await _counts(db) == before


async def test_the_registration_number_is_not_repeated_in_its_message(db: Database) -> None:
    with pytest.raises(wb.WorkbookRejected) as caught:
        await _import(db, _spoiled())
    assert not any("800101" in m for m in _messages(caught.value))


async def test_a_good_workbook_imports_and_the_same_again_changes_nothing(db: Database) -> None:
    data = workbooks.new_district()
    first = await _import(db, data)
    assert first.changed == 0
    counts = await _counts(db)
    assert counts == {
        "districts": 1,
        "regions": 2,
        "dongs": 6,
        "providers": 4,
        "provider_services": 6,
        "provider_regions": 7,
        "care_managers": 3,
        "service_catalog": 8,
        "support_limits": 1,
    }
    assert first.created == sum(counts.values()) - 6 - 7  # links are counted with their provider
    again = await _import(db, data)
    assert (again.created, again.changed) == (0, 0)
    assert await _counts(db) == counts
    async with db.sessions() as s:
        district = (await s.execute(select(District))).scalar_one()
        assert (district.code, district.name, district.phone, district.office_hours) == (
            "seodaemun",
            "서대문구",
            "+8223301234",
            "평일 9시~18시",
        )
        inactive = (await s.execute(select(Dong).where(Dong.name == "천연동"))).scalar_one()
        assert inactive.active is False
        nurse = (await s.execute(select(CareManager).where(CareManager.name == "박지훈"))).scalar_one()
        assert (nurse.job_type, nurse.phone) == ("nurse", "+821022223333")
        home = (await s.execute(select(Provider).where(Provider.name.startswith("연희")))).scalar_one()  # type: ignore[attr-defined]
        caps = dict(
            (
                await s.execute(
                    select(ProviderService.service_code, ProviderService.weekly_capacity).where(
                        ProviderService.provider_id == home.id
                    )
                )
            ).all()
        )  # type: ignore[arg-type]
        assert caps == {"home_care": None, "short_stay": 5}
        leads = (
            await s.execute(select(func.count()).select_from(ProviderRegion).where(ProviderRegion.is_lead))
        ).scalar_one()  # type: ignore[arg-type]
        assert leads == 2
        logged = (
            await s.execute(select(func.count()).select_from(AccessLog).where(AccessLog.action == "district_import"))
        ).scalar_one()  # type: ignore[arg-type]
        assert logged == 2


async def test_a_changed_row_is_updated_and_a_row_left_out_is_kept(db: Database) -> None:
    await _import(db, workbooks.new_district())
    rows = workbooks.district_rows()
    rows[wb.S_PROVIDERS][0][4] = 45
    rows[wb.S_PROVIDERS][0][8] = "아니오"
    del rows[wb.S_MANAGERS][2]
    applied = await _import(db, workbooks.build(rows))
    assert (applied.created, applied.changed) == (0, 1)
    async with db.sessions() as s:
        meals = (await s.execute(select(Provider).where(Provider.name == "서대문나눔밥상 협동조합"))).scalar_one()
        assert (meals.weekly_capacity, meals.active) == (45, False)
        assert (await s.execute(select(func.count()).select_from(CareManager))).scalar_one() == 3


async def test_export_then_import_into_a_fresh_database_then_export_again_is_identical(
    db: Database, tmp_path: Any
) -> None:
    from tests.conftest import prepare

    applied = await _import(db, workbooks.new_district())
    async with db.transaction() as s:
        first = await wb.export(s, access=ADMIN_ALL, district_id=applied.district_id)
    # A fresh database of the same engine: a new SQLite file, or the PostgreSQL one emptied.
    if db.is_sqlite:
        fresh = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    else:
        await db.dispose()
        fresh = db
    await prepare(fresh.url)
    assert (await _counts(fresh))["districts"] == 0
    try:
        again = await _import(fresh, first)
        async with fresh.transaction() as s:
            second = await wb.export(s, access=ADMIN_ALL, district_id=again.district_id)
    finally:
        if fresh is not db:
            await fresh.dispose()
    assert _cells(first) == _cells(second)
    assert _cells(first)[wb.S_DONGS][2:] == [
        ("남가좌1동", "북부권역", "예"),
        ("신촌동", "남부권역", "예"),
        ("연희동", "남부권역", "예"),
        ("천연동", "남부권역", "아니오"),
        ("홍은1동", "북부권역", "예"),
        ("홍제1동", "북부권역", "예"),
    ]


async def test_the_demo_like_district_of_the_factories_round_trips(db: Database) -> None:
    async with db.transaction() as s:
        place = await factories.make_district(s)
        await factories.make_provider(s, place, is_lead=True)
        await factories.make_care_manager(s, place)
    async with db.transaction() as s:
        first = await wb.export(s, access=ADMIN_ALL, district_id=place.district_id)
    before = await _counts(db)
    applied = await _import(db, first)
    assert (applied.created, applied.changed) == (0, 0)
    assert await _counts(db) == before


async def test_the_template_has_every_sheet_with_korean_headers_and_imports_as_an_example(db: Database) -> None:
    cells = _cells(wb.template())
    assert list(cells) == ["자치구", "권역", "행정동", "제공기관", "돌봄매니저", "서비스 단가"]
    assert cells["제공기관"][0][:5] == ("기관명", "유형", "전화", "제공 서비스", "주간 정원")
    assert all(len(rows) >= 3 for rows in cells.values())  # header, hint, example
    applied = await _import(db, wb.template())
    assert applied.created > 0


async def test_an_admin_of_another_district_cannot_import_into_it(db: Database) -> None:
    applied = await _import(db, workbooks.new_district())
    async with db.transaction() as s:
        other = await factories.make_district(s, name="은평구")
    admin_b = Access(operator_id=None, username="b", ip=None, district_id=other.district_id, role="admin")
    before = await _counts(db)
    with pytest.raises(NotFound):
        await _import(db, workbooks.new_district(), admin_b)
    with pytest.raises(wb.WorkbookRejected) as caught:
        await _import(db, workbooks.new_district(code="jongno", name="종로구"), admin_b)
    assert _messages(caught.value) == [
        "자치구 시트 3행 '구 코드' 열: 구 코드 'jongno': 담당하시는 자치구가 아니에요."
        " 자치구 시트의 구 코드를 확인해 주세요."
    ]
    assert await _counts(db) == before
    admin_a = Access(operator_id=None, username="a", ip=None, district_id=applied.district_id, role="admin")
    assert (await _import(db, workbooks.new_district(), admin_a)).changed == 0


async def test_an_operator_who_is_not_an_admin_cannot_import(db: Database) -> None:
    from dolbom.errors import PermissionDenied

    operator = Access(operator_id=None, username="o", ip=None, district_id=None, role="operator")
    with pytest.raises(PermissionDenied):
        await _import(db, workbooks.new_district(), operator)


async def test_a_file_that_is_not_a_workbook_gets_a_kind_message(db: Database) -> None:
    with pytest.raises(InvalidInput) as caught:
        await _import(db, b"name,phone\n")
    assert caught.value.msgid == wb.UNREADABLE


async def test_a_district_code_the_bot_link_cannot_carry_is_refused(db: Database) -> None:
    with pytest.raises(wb.WorkbookRejected) as caught:
        await _import(db, workbooks.new_district(code="서대문 구"))
    assert _messages(caught.value) == [
        "자치구 시트 3행 '구 코드' 열: 영문, 숫자, -, _로만 적어 주세요 (지금 적힌 값: '서대문 구')."
    ]


async def test_two_admins_importing_the_same_new_district_at_once_make_it_once(db: Database) -> None:
    from dolbom.errors import ConflictError
    from tests.care.test_races import race
    from tests.storage.pausing import Pause

    data = workbooks.new_district()

    async def importing(s: Any) -> wb.Applied:
        return await wb.import_workbook(s, access=ADMIN_ALL, data=data)

    outcome = await race(db, importing, Pause(), importing)
    if db.is_sqlite:  # the paused session held the write lock: it went first, the other found it all
        assert isinstance(outcome.paused, wb.Applied) and outcome.paused.created > 0
        assert isinstance(outcome.meanwhile, wb.Applied)
        assert (outcome.meanwhile.created, outcome.meanwhile.changed) == (0, 0)
    else:  # the other committed first: the paused one's district is a duplicate, refused kindly
        assert isinstance(outcome.paused, ConflictError)
        assert isinstance(outcome.meanwhile, wb.Applied) and outcome.meanwhile.created > 0
    counts = await _counts(db)
    assert (counts["districts"], counts["dongs"], counts["providers"]) == (1, 6, 4)
    again = await _import(db, data)
    assert (again.created, again.changed) == (0, 0)


async def test_the_demo_district_exports_and_imports_back_unchanged(db: Database) -> None:
    from dolbom import demo

    await demo.load(db)
    async with db.transaction() as s:
        district_id = await wb.district_id_by_code(s, access=ADMIN_ALL, code=demo.DISTRICT_CODE)
        first = await wb.export(s, access=ADMIN_ALL, district_id=district_id)
    before = await _counts(db)
    applied = await _import(db, first)
    assert (applied.created, applied.changed) == (0, 0)
    assert await _counts(db) == before
    async with db.transaction() as s:
        assert _cells(await wb.export(s, access=ADMIN_ALL, district_id=district_id)) == _cells(first)


async def test_a_name_that_looks_like_a_formula_is_exported_as_text_and_imports_back_unchanged(db: Database) -> None:
    formula = '=HYPERLINK("http://evil.example","열기")'
    async with db.transaction() as s:
        place = await factories.make_district(s)
        await factories.make_provider(s, place, name=formula)
    async with db.transaction() as s:
        data = await wb.export(s, access=ADMIN_ALL, district_id=place.district_id)
    sheet = load_workbook(io.BytesIO(data))[wb.S_PROVIDERS]
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value == formula]
    assert cells and all(cell.data_type == "s" for cell in cells)
    applied = await _import(db, data)
    assert (applied.created, applied.changed) == (0, 0)


async def _console_district(db: Database) -> int:
    """A district as the console's directory pages can leave it during set-up (decision 0016)."""
    from care import directory

    async with db.transaction() as s:
        d = await directory.create_district(s, access=ADMIN_ALL, code="jongno", name="종로구", phone="1588-0000")
        assert d.id is not None
        north = await directory.create_region(s, access=ADMIN_ALL, district_id=d.id, name="북부권역")
        slash = await directory.create_region(s, access=ADMIN_ALL, district_id=d.id, name="평창/부암권역")
        gone = await directory.create_region(s, access=ADMIN_ALL, district_id=d.id, name="옛권역")
        await directory.deactivate_region(s, access=ADMIN_ALL, region_id=gone.id)  # type: ignore[arg-type]
        dong = await directory.create_dong(s, access=ADMIN_ALL, district_id=d.id, region_id=north.id, name="사직동")  # type: ignore[arg-type]
        await directory.create_dong(s, access=ADMIN_ALL, district_id=d.id, region_id=slash.id, name="평창동")  # type: ignore[arg-type]
        # A provider that serves no 권역 and offers nothing yet, of each kind the console offers.
        for i, kind in enumerate(directory.PROVIDER_KIND):
            await directory.create_provider(s, access=ADMIN_ALL, district_id=d.id, name=f"새기관 {i}", kind=kind)
        setup = directory.ProviderSetup(
            services={"meals": 10, "escort": None},
            regions={north.id, slash.id},
            lead_regions={slash.id},  # type: ignore[arg-type]
        )
        await directory.create_provider(
            s, access=ADMIN_ALL, district_id=d.id, name="종로밥상", kind="cooperative", setup=setup, weekly_capacity=0
        )
        # Two care managers of one name in one 동 (own lines), one more without a phone, one inactive.
        for phone in ("02-2148-5001", "02-2148-5002", None):
            await directory.create_care_manager(
                s,
                access=ADMIN_ALL,
                district_id=d.id,
                dong_id=dong.id,
                name="김민수",
                phone=phone,  # type: ignore[arg-type]
            )
        quitter = await directory.create_care_manager(
            s,
            access=ADMIN_ALL,
            district_id=d.id,
            dong_id=dong.id,
            name="박지은",
            job_type="nurse",  # type: ignore[arg-type]
        )
        await directory.deactivate_care_manager(s, access=ADMIN_ALL, care_manager_id=quitter.id)  # type: ignore[arg-type]
        return d.id


async def test_every_state_the_console_allows_exports_and_imports_back_unchanged(db: Database, tmp_path: Any) -> None:
    district_id = await _console_district(db)
    async with db.transaction() as s:
        first = await wb.export(s, access=ADMIN_ALL, district_id=district_id)
    before = await _counts(db)
    applied = await _import(db, first)
    assert (applied.created, applied.changed) == (0, 0)
    assert await _counts(db) == before
    async with db.transaction() as s:
        assert _cells(await wb.export(s, access=ADMIN_ALL, district_id=district_id)) == _cells(first)
    managers = _cells(first)[wb.S_MANAGERS][2:]
    assert [(m[0], m[3]) for m in managers if m[0] == "김민수"] == [
        ("김민수", "02-2148-5001"),
        ("김민수", "02-2148-5002"),
        ("김민수", None),
    ]
    # Into a fresh database of the same engine, and out again: the same cells.
    from tests.conftest import prepare

    if db.is_sqlite:
        fresh = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    else:
        await db.dispose()
        fresh = db
    await prepare(fresh.url)
    try:
        again = await _import(fresh, first)
        assert (await _counts(fresh)) == before
        async with fresh.transaction() as s:
            second = await wb.export(s, access=ADMIN_ALL, district_id=again.district_id)
    finally:
        if fresh is not db:
            await fresh.dispose()
    assert _cells(second) == _cells(first)


async def test_two_care_managers_of_one_name_with_the_same_phone_are_refused_with_a_hint(db: Database) -> None:
    rows = workbooks.district_rows()
    rows[wb.S_MANAGERS].append(["김서연", "홍제1동", "간호직", "02-330-8001", "예"])  # row 6, as row 3
    rows[wb.S_MANAGERS].append(["김서연", "홍제1동", "간호직", "02-330-8009", "예"])  # row 7: her own line
    with pytest.raises(wb.WorkbookRejected) as caught:
        await _import(db, workbooks.build(rows))
    assert _messages(caught.value) == [
        "돌봄매니저 시트 6행 '이름' 열: 이름·동·전화번호가 같은 줄이 3행에도 있어요: '김서연 (홍제1동)'."
        " 한 동에 이름이 같은 돌봄매니저는 전화번호로 구별해 주세요."
    ]
    del rows[wb.S_MANAGERS][3]
    await _import(db, workbooks.build(rows))
    async with db.sessions() as s:
        phones = (await s.execute(select(CareManager.phone).where(CareManager.name == "김서연"))).scalars()
        assert sorted(phones) == ["+8223308001", "+8223308009"]  # type: ignore[type-var]


async def test_a_new_phone_for_one_of_two_namesakes_changes_that_one_and_adds_nobody(db: Database) -> None:
    rows = workbooks.district_rows()
    rows[wb.S_MANAGERS].append(["김서연", "홍제1동", "간호직", "02-330-8009", "예"])
    await _import(db, workbooks.build(rows))
    async with db.sessions() as s:
        ids = dict(
            (await s.execute(select(CareManager.phone, CareManager.id).where(CareManager.name == "김서연"))).all()
        )  # type: ignore[arg-type]
    rows[wb.S_MANAGERS][3][3] = "010-7777-8888"  # the nurse got a mobile
    applied = await _import(db, workbooks.build(rows))
    assert (applied.created, applied.changed) == (0, 1)
    async with db.sessions() as s:
        now = dict(
            (await s.execute(select(CareManager.phone, CareManager.id).where(CareManager.name == "김서연"))).all()
        )  # type: ignore[arg-type]
    assert now == {"+8223308001": ids["+8223308001"], "+821077778888": ids["+8223308009"]}


async def test_a_provider_with_no_region_or_service_yet_imports(db: Database) -> None:
    rows = workbooks.district_rows()
    rows[wb.S_PROVIDERS].append(["새 협동조합", "협동조합", "", "", 0, "", "", "", "예"])
    applied = await _import(db, workbooks.build(rows))
    assert applied.created > 0
    async with db.sessions() as s:
        new = (await s.execute(select(Provider).where(Provider.name == "새 협동조합"))).scalar_one()
        links = (await s.execute(select(ProviderRegion).where(ProviderRegion.provider_id == new.id))).all()
        assert (new.kind, new.weekly_capacity, links) == ("cooperative", 0, [])


async def test_the_workbook_and_the_console_know_the_same_kinds_of_provider() -> None:
    from care import directory

    assert set(wb.PROVIDER_KINDS) == set(directory.PROVIDER_KIND)


async def test_a_region_name_with_a_comma_is_refused_and_one_with_a_slash_is_kept_whole(db: Database) -> None:
    rows = workbooks.district_rows()
    rows[wb.S_REGIONS].append(["서부, 동부권역", "예"])  # row 5
    with pytest.raises(wb.WorkbookRejected) as caught:
        await _import(db, workbooks.build(rows))
    assert _messages(caught.value) == [
        "권역 시트 5행 '권역' 열: 권역 이름에는 쉼표를 쓸 수 없어요 (지금 적힌 값: '서부, 동부권역')."
    ]
    rows = workbooks.district_rows()
    rows[wb.S_REGIONS].append(["홍제/홍은권역", "예"])
    rows[wb.S_PROVIDERS][0][6] = "홍제/홍은권역, 남부권역"  # a name with a slash
    rows[wb.S_PROVIDERS][1][6] = "북부권역/남부권역"  # two names split at the slash, as before
    await _import(db, workbooks.build(rows))
    async with db.sessions() as s:
        served = (
            await s.execute(
                select(Provider.name, Region.name)
                .join(ProviderRegion, ProviderRegion.provider_id == Provider.id)
                .join(Region, Region.id == ProviderRegion.region_id)
                .where(Provider.name.in_(["서대문나눔밥상 협동조합", "연희재가돌봄 사회적협동조합"]))  # type: ignore[attr-defined]
            )
        ).all()
    assert sorted(served) == [
        ("서대문나눔밥상 협동조합", "남부권역"),
        ("서대문나눔밥상 협동조합", "북부권역"),  # the 권역 it leads
        ("서대문나눔밥상 협동조합", "홍제/홍은권역"),
        ("연희재가돌봄 사회적협동조합", "남부권역"),
        ("연희재가돌봄 사회적협동조합", "북부권역"),
    ]


async def test_a_paused_providers_old_lead_does_not_stop_the_lead_the_console_gave_another(db: Database) -> None:
    from care import directory

    rows = workbooks.district_rows()
    rows[wb.S_PROVIDERS][0][8] = "아니오"  # the lead of 북부권역, paused in the file
    applied = await _import(db, workbooks.build(rows))
    async with db.transaction() as s:
        north = (await s.execute(select(Region).where(Region.name == "북부권역"))).scalar_one()
        repair = (await s.execute(select(Provider).where(Provider.name == "홍제집수리 자활기업"))).scalar_one()
        await directory.update_provider(
            s,
            access=ADMIN_ALL,
            provider_id=repair.id,  # type: ignore[arg-type]
            name=repair.name,
            kind=repair.kind,
            phone=None,
            weekly_capacity=repair.weekly_capacity,
            active=True,
            setup=directory.ProviderSetup({"housing": None}, {north.id}, {north.id}),  # type: ignore[arg-type]
        )
    async with db.transaction() as s:
        first = await wb.export(s, access=ADMIN_ALL, district_id=applied.district_id)
    again = await _import(db, first)
    assert (again.created, again.changed) == (0, 0)


async def test_the_price_sheet_sets_the_no_show_rule_and_an_older_file_without_the_column_keeps_it(
    db: Database,
) -> None:
    from care import prices

    rows = workbooks.district_rows()
    meals = next(r for r in rows[wb.S_PRICES] if r[1] == "meals")
    meals.append(1)  # 무단결석 청구(단위): a no-show bills 1 meal
    await _import(db, workbooks.build(rows))
    async with db.sessions() as s:
        district = (await s.execute(select(District))).scalar_one()
        assert district.id is not None
        rule = await prices.get(s, district_id=district.id, year=2026, service_code="meals")
        assert rule.no_show_units == 1
        assert (await prices.get(s, district_id=district.id, year=2026, service_code="home_care")).no_show_units == 0
    # A workbook made before the column existed imports, and leaves the rule as it is.
    older = await _import(db, workbooks.build(workbooks.district_rows(), drop_columns={wb.S_PRICES: wb.C_NO_SHOW}))
    assert older.changed == 0
    async with db.sessions() as s:
        assert (await prices.get(s, district_id=district.id, year=2026, service_code="meals")).no_show_units == 1
    # An empty cell in the column means none.
    await _import(db, workbooks.build(workbooks.district_rows()))
    async with db.sessions() as s:
        assert (await prices.get(s, district_id=district.id, year=2026, service_code="meals")).no_show_units == 0
