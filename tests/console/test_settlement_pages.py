"""마감, corrections, statements, payments and the month's downloads, through the console.

The figures are those of tests/care/test_closing.py (worked by hand there): November 1,137,260 =
public 662,200 + residents 475,060; December, after correcting A's meal of 11-26 (-7,200 public)
and B's short stay to 13 days (-55,710 B's), 73,890 = 129,600 public - 55,710.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import httpx
from openpyxl import load_workbook
from sqlalchemy import select

from dolbom import clock
from storage.db import Database
from storage.models import AccessLog, District, Operator, Visit
from tests.care.test_closing import acceptance
from tests.console.conftest import World, _password_hash, signed_in


async def test_close_correct_statements_payments_and_exports_give_the_hand_worked_figures(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.transaction() as s:
        w = await acceptance(s, world.mapo)
        district = await s.get(District, world.mapo.district_id)
        assert district is not None
        district.phone = "+8223153880"
        s.add(Operator(username="eunpyeong_admin", password_hash=_password_hash(), role="admin",
                       district_id=world.other.district_id, display_name="은평 관리자"))  # fmt: skip
        meal_26 = (
            await s.execute(select(Visit).where(Visit.order_id == w.a_order.id, Visit.day == date(2026, 11, 26)))
        ).scalar_one()
    a_order, b_stay = w.a_order.id, w.b_stay.id
    b, c = w.b.id, w.c.id

    clock.set_now(datetime(2026, 12, 2, 1, 0, tzinfo=UTC))
    token = await signed_in(client, "mapo")
    before = (await client.get("/api/settlement?month=2026-11")).json()
    assert (before["closed"], before["total"], before["public"], before["resident"]) == (False, 1_137_260, 662_200,
                                                                                          475_060)  # fmt: skip
    closed = await client.post("/settlement/close", data={"csrf_token": token, "month": "2026-11"})
    assert closed.status_code == 303
    again = await client.post("/settlement/close", data={"csrf_token": token, "month": "2026-11"})
    assert again.status_code == 400 and "마감" in again.text
    after = (await client.get("/api/settlement?month=2026-11")).json()
    assert (after["closed"], after["total"], after["public"], after["resident"]) == (True, 1_137_260, 662_200,
                                                                                     475_060)  # fmt: skip
    assert after["closes"][0]["closed_by"] == "mapo 담당"
    assert [(x["key"], x["total"]) for x in after["by"]["service"]] == [
        ("home_care", 184_520), ("meals", 172_800), ("short_stay", 779_940)
    ]  # fmt: skip
    # A visit on a day of the closed month is refused in Korean on the order page.
    refused = await client.post(
        f"/orders/{a_order}/visits/record",
        data={"csrf_token": token, "day": "2026-11-30", "kind": "delivered", "units": "1"},
    )
    assert refused.status_code == 400 and "2026-11" in refused.text and "마감" in refused.text

    clock.set_now(datetime(2026, 12, 3, 1, 0, tzinfo=UTC))
    token = await signed_in(client, "mapo")
    fixed = await client.post(
        f"/orders/{a_order}/visits/{meal_26.id}/correct",
        data={"csrf_token": token, "kind": "no_show", "units": "0", "reason": "입원으로 부재, 기관 정정"},
    )
    assert fixed.status_code == 303
    fixed = await client.post(
        f"/orders/{b_stay}/units/correct",
        data={"csrf_token": token, "delivered_units": "13", "reason": "=퇴소일 착오, 13일 이용"},
    )
    assert fixed.status_code == 303
    assert (await client.get("/api/settlement?month=2026-11")).json()["total"] == 1_137_260  # never changes
    order_page = await client.get(f"/orders/{a_order}")
    assert "입원으로 부재, 기관 정정" in order_page.text

    clock.set_now(datetime(2026, 12, 20, 1, 0, tzinfo=UTC))
    token = await signed_in(client, "mapo")
    for n in range(1, 20):
        r = await client.post(
            f"/orders/{a_order}/visits/record",
            data={"csrf_token": token, "day": f"2026-12-{n:02d}", "kind": "delivered", "units": "1"},
        )
        assert r.status_code == 303, r.text
    assert (await client.post(f"/orders/{a_order}/visits/complete", data={"csrf_token": token})).status_code == 303
    dec = (await client.get("/api/settlement?month=2026-12")).json()
    assert (dec["closed"], dec["total"], dec["public"], dec["resident"]) == (False, 73_890, 129_600, -55_710)
    adjustments = [a for p in dec["providers"] for a in p["adjustments"]]
    assert sorted((a["original_month"], a["units"], a["total"], a["public"], a["resident"]) for a in adjustments) == [
        ("2026-11", -1, -55_710, 0, -55_710),
        ("2026-11", -1, -7_200, -7_200, 0),
    ]
    assert {a["day"] for a in adjustments} == {"2026-12-03"}
    page = await client.get("/settlement?month=2026-12")
    assert page.status_code == 200 and "-55,710" in page.text and "입원으로 부재, 기관 정정" in page.text

    # The December download equals the screen: 19 meal lines, two adjustment lines, the totals row.
    form = {"csrf_token": token, "month": "2026-12", "reason": "12월 정산"}
    body = (await client.post("/settlement/export", data={**form, "format": "csv"})).content
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "접수번호" and len(rows) == 1 + 19 + 2 + 1
    adjusted = [r for r in rows[1:-1] if r[11] == "조정"]
    assert sorted((r[12], int(r[6]), int(r[7]), int(r[8])) for r in adjusted) == [
        ("2026-11", -55_710, 0, -55_710),
        ("2026-11", -7_200, -7_200, 0),
    ]
    assert "'=퇴소일 착오, 13일 이용" in [r[13] for r in adjusted]  # a reason typed as a formula stays text
    assert rows[-1][0] == "합계" and [int(x) for x in rows[-1][6:9]] == [dec["total"], dec["public"], dec["resident"]]
    xlsx = await client.post("/settlement/export", data={**form, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.freeze_panes == "A2" and sheet.title == "정산"
    last = sheet.max_row
    assert sheet.cell(row=last, column=1).value == "합계"
    assert [sheet.cell(row=last, column=c).value for c in (7, 8, 9)] == [73_890, 129_600, -55_710]
    assert "원" in sheet.cell(row=last, column=7).number_format
    for r in range(2, last):
        assert isinstance(sheet.cell(row=r, column=7).value, int)

    # Payments and a refund, statements by state.
    for data in (
        {"kind": "payment", "day": "2026-11-30", "amount": "182,540", "method": "transfer", "month": "2026-11"},
        {"kind": "payment", "day": "2026-12-05", "amount": "50000", "method": "cash", "month": "2026-11"},
    ):
        who = b if data["amount"] == "182,540" else c
        r = await client.post(f"/statements/{who}/payments", data={"csrf_token": token, **data})
        assert r.status_code == 303, r.text
    refund = {"csrf_token": token, "kind": "refund", "day": "2026-12-20", "amount": "55710", "method": "transfer",
              "month": "2026-12"}  # fmt: skip
    no_reason = await client.post(f"/statements/{b}/payments", data=refund)
    assert no_reason.status_code == 400
    ok = await client.post(f"/statements/{b}/payments", data={**refund, "reason": "11월 단기시설 1일 정정분 환급"})
    assert ok.status_code == 303
    listing = await client.get("/statements?month=2026-11")
    assert listing.status_code == 200
    assert f'data-resident="{w.a.id}"' not in listing.text  # all public: no statement
    statement = await client.get(f"/statements/{c}?month=2026-11")
    assert statement.status_code == 200
    assert "72,000" in statement.text and "22,000" in statement.text and "02-315-3880" in statement.text
    b_dec = await client.get(f"/statements/{b}?month=2026-12")
    assert "-55,710" in b_dec.text and "11월 단기시설 1일 정정분 환급" in b_dec.text
    body = (
        await client.post(
            "/statements/export", data={"csrf_token": token, "month": "2026-11", "reason": "미납 확인", "format": "csv"}
        )
    ).content
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    by_id = {int(r[0]): r for r in rows[1:-1]}
    assert [int(x) for x in by_id[c][5:9]] == [72_000, 50_000, 0, 22_000]
    assert [int(x) for x in by_id[b][5:9]] == [182_540, 182_540, 0, 0]
    assert rows[-1][0] == "합계" and int(rows[-1][5]) == 475_060 and int(rows[-1][8]) == 475_060 - 182_540 - 50_000

    # Another district's admin finds none of it; a viewer records nothing.
    other_token = await signed_in(client, "eunpyeong_admin")
    assert (await client.get(f"/statements/{c}?month=2026-11")).status_code == 404
    r = await client.post(f"/statements/{c}/payments", data={"csrf_token": other_token, "kind": "payment",
                                                            "day": "2026-12-20", "amount": "1000", "method": "cash",
                                                            "month": "2026-11"})  # fmt: skip
    assert r.status_code == 404
    assert (await client.get("/api/settlement?month=2026-11")).json()["total"] == 0
    r = await client.post(f"/orders/{b_stay}/units/correct",
                          data={"csrf_token": other_token, "delivered_units": "1", "reason": "x"})  # fmt: skip
    assert r.status_code == 404
    viewer_token = await signed_in(client, "viewer")
    r = await client.post(f"/statements/{c}/payments", data={"csrf_token": viewer_token, "kind": "payment",
                                                            "day": "2026-12-20", "amount": "1000", "method": "cash",
                                                            "month": "2026-11"})  # fmt: skip
    assert r.status_code == 403
    async with db.sessions() as s:
        actions = set((await s.execute(select(AccessLog.action))).scalars())
    assert {"settlement_close", "statement_export", "copay_refund", "denied_other_district"} <= actions
