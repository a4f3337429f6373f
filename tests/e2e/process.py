"""`dolbom serve` as a real process for the process tests and benches: start, stop, the request walk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.botapi import TOKEN
from tests.e2e.support import free_port

ROOT = Path(__file__).resolve().parents[2]

SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = [
    "영희", "순자", "옥순", "말순", "정자", "영자", "춘자", "숙자", "명자", "경자",
    "순이", "복순", "점순", "금순", "분이", "정순", "영순", "옥자", "미자", "순덕",
]  # fmt: skip


def name_of(i: int) -> str:
    """A distinct, ordinary Korean name for person i (400 before any repeats)."""
    return SURNAMES[i // len(GIVEN) % len(SURNAMES)] + GIVEN[i % len(GIVEN)]


def phone_of(i: int) -> str:
    return f"010-5{i // 1000:03d}-{1000 + i % 1000:04d}"


def request_steps(name: str, phone: str) -> list[tuple[str, str, str]]:
    """A resident's meal request from /start to 신청하기: (action, value, the words of the answer)."""
    return [
        ("say", "/start", "무엇을 도와 드릴까요?"),
        ("press", "서비스 신청", "어떤 도움이 필요하세요?"),
        ("press", "식사 배달", "누구를 위한 신청인가요?"),
        ("press", "본인", "성함이 어떻게 되세요?"),
        ("say", name, "전화번호를 알려 주세요"),
        ("say", phone, "어느 동에 사세요?"),
        ("press_first", "", "주소는 어떻게 되나요?"),
        ("say", "망원로 12", "몇 년생이세요?"),
        ("say", "1942", "등록된 장애가 있으세요?"),
        ("press", "아니요", "혼자 움직이거나 생활하기 어려우세요?"),
        ("press", "네", "지금 받고 계신 공공 돌봄 서비스가 없거나"),
        ("press", "네", "돌봐 드릴 가족이 없나요?"),
        ("press", "네", "소득 구분"),
        ("press", "기초생활수급", "몇 끼가 필요하세요?"),
        ("press", "10식", "언제부터 식사를 받고 싶으세요?"),
        ("say", "모레", "맞으세요?"),
        ("press", "네", "창구에 더 알려 주실 게 있으세요?"),
        ("press", "없어요", "개인정보 수집·이용 동의"),
        ("press", "동의합니다", "건강·장애 정보 수집 동의"),
        ("press", "동의합니다", "신청 내용을 확인해 주세요."),
        ("press", "신청하기", "접수번호는 다음 메시지로 알려 드려요."),
    ]


RECEIPT_WORDS = "접수번호:"


def serve_env(db_url: str, api_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOLBOM_")}
    env.update(
        {
            "DOLBOM_DATABASE_URL": db_url,
            "DOLBOM_TELEGRAM_TOKEN": TOKEN,
            "DOLBOM_TELEGRAM_API_URL": api_url,
            "DOLBOM_CONSOLE_PORT": str(free_port()),
        }
    )
    env.update(extra)
    return env


def start_serve(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start `dolbom serve` (with args such as --only bot), its output appended to log."""
    with log.open("ab") as out:
        command = [sys.executable, "-m", "dolbom", "serve", *args]
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 20) -> int:
    """SIGTERM, wait, SIGKILL only if it hangs; return the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def kill9(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
