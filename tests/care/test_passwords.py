"""The desk password policy, enforced in care for every way a password is set."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from care import operators, passwords
from dolbom.errors import InvalidInput
from dolbom.i18n import gettext

REFUSED = [
    ("short-pw1", "mapo", passwords.MSG_TOO_SHORT),
    ("x" * 300, "mapo", passwords.MSG_TOO_LONG),
    ("mapo-desk-2026", "mapo-desk", passwords.MSG_HAS_USERNAME),
    ("MAPO-DESK-2026", "mapo-desk", passwords.MSG_HAS_USERNAME),
    ("kimyoungja", "kimyoungja", passwords.MSG_HAS_USERNAME),
    ("1234567890", "mapo", passwords.MSG_COMMON),
    ("qwertyuiop", "mapo", passwords.MSG_COMMON),
    ("Password2024!", "mapo", passwords.MSG_COMMON),
    ("1q2w3e4r5t", "mapo", passwords.MSG_COMMON),
    ("dkssudgktpdy", "mapo", passwords.MSG_COMMON),  # 안녕하세요 typed on an English keyboard
    ("!!sunshine!!", "mapo", passwords.MSG_COMMON),
    ("1212121212", "mapo", passwords.MSG_COMMON),
    ("zzzzzzzzzzzz", "mapo", passwords.MSG_COMMON),
]


@pytest.mark.parametrize(("password", "username", "msgid"), REFUSED)
def test_weak_passwords_are_refused_with_the_reason(password: str, username: str, msgid: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        passwords.check(password, username=username)
    assert caught.value.msgid == msgid
    korean = gettext(caught.value.msgid, **caught.value.params)
    assert "비밀번호" in korean and korean != caught.value.msgid


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("correct-horse-battery", "mapo"),
        ("봄날의 마포 통합창구", "mapo"),
        ("an-long-phrase", "an"),
        ("dolbom-desk-2026", "demo"),
    ],
)
def test_long_uncommon_passwords_pass(password: str, username: str) -> None:
    passwords.check(password, username=username)


def test_the_common_list_ships_in_the_package() -> None:
    assert {"password", "qwertyuiop", "1q2w3e4r5t"} <= passwords.common_passwords()


async def test_create_update_and_change_all_apply_the_policy(session: AsyncSession) -> None:
    with pytest.raises(InvalidInput):
        await operators.create(session, username="newdesk", password="password123", role="operator")
    op = await operators.create(session, username="newdesk", password="a-long-desk-phrase", role="operator")
    assert op.id is not None
    with pytest.raises(InvalidInput):
        await operators.update(session, operator_id=op.id, role="operator", active=True, password="newdesk-2026!")
    with pytest.raises(InvalidInput):
        await operators.change_password(session, operator_id=op.id, current="a-long-desk-phrase", new="qwertyuiop")
    with pytest.raises(InvalidInput) as caught:
        await operators.change_password(session, operator_id=op.id, current="wrong-one-here", new="another-phrase")
    assert caught.value.msgid == operators.MSG_WRONG_CURRENT
    assert operators.verify_password(op.password_hash, "a-long-desk-phrase")
    op.must_change_password = True
    changed = await operators.change_password(
        session, operator_id=op.id, current="a-long-desk-phrase", new="another-long-phrase"
    )
    assert operators.verify_password(changed.password_hash, "another-long-phrase")
    assert changed.must_change_password is False
