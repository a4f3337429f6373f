"""The `dolbom` command: serve, migrate, demo, operator add, district template/import/export, backup."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from dolbom import logs
from dolbom.errors import AppError
from dolbom.i18n import gettext
from dolbom.settings import get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dolbom", description="돌봄 통합창구 (the care desk)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate, then run console + bot + jobs")
    serve.add_argument("--only", choices=["web", "bot", "jobs"], help="run one role only")
    sub.add_parser("migrate", help="bring the database to the newest schema (idempotent)")
    sub.add_parser("demo", help="load the demo district (idempotent)")
    operator = sub.add_parser("operator", help="desk operators")
    op_sub = operator.add_subparsers(dest="operator_command", required=True)
    add = op_sub.add_parser("add", help="add an operator")
    add.add_argument("--username", required=True)
    add.add_argument("--password", required=True)
    add.add_argument("--role", choices=["admin", "operator", "viewer"], required=True)
    add.add_argument("--district", help="district code or name the operator is bound to")
    add.add_argument("--name", help="display name")
    district = sub.add_parser("district", help="the district directory as one .xlsx workbook")
    d_sub = district.add_subparsers(dest="district_command", required=True)
    d_sub.add_parser("template", help="write an empty workbook with an example row per sheet").add_argument(
        "path", type=Path
    )
    d_sub.add_parser("import", help="check every row, then import all of it (or nothing)").add_argument(
        "path", type=Path
    )
    export = d_sub.add_parser("export", help="write the district's directory in the import format")
    export.add_argument("path", type=Path)
    export.add_argument("--district", help="district code (needed when there are several)")
    backup = sub.add_parser("backup", help="copy the database to PATH (SQLite)")
    backup.add_argument("path", type=Path)
    return parser


async def _operator_add(args: argparse.Namespace) -> None:
    from care import operators
    from storage import migrate
    from storage.db import Database

    settings = get_settings()
    await migrate.upgrade_async(settings.database_url)
    database = Database(settings.database_url)
    try:
        async with database.transaction() as session:
            op = await operators.create(
                session,
                username=args.username,
                password=args.password,
                role=args.role,
                district_code=args.district,
                display_name=args.name,
            )
        print(f"operator {op.username} ({op.role}) added")
    finally:
        await database.dispose()


async def _demo() -> None:
    from dolbom import demo
    from storage import migrate
    from storage.db import Database

    settings = get_settings()
    await migrate.upgrade_async(settings.database_url)
    database = Database(settings.database_url)
    try:
        result = await demo.load(database)
    finally:
        await database.dispose()
    print(result.summary())


async def _district(args: argparse.Namespace) -> int:
    from care import workbook
    from care.auth import Access
    from storage import migrate
    from storage.db import Database

    if args.district_command == "template":
        args.path.write_bytes(workbook.template())
        print(f"template written to {args.path}")
        return 0
    # The command line acts as an admin of every district, like `dolbom operator add`.
    access = Access(operator_id=None, username="command line", ip=None, district_id=None, role="admin")
    settings = get_settings()
    await migrate.upgrade_async(settings.database_url)
    database = Database(settings.database_url)
    try:
        if args.district_command == "import":
            try:
                data = args.path.read_bytes()
            except OSError as err:
                print(f"{args.path}: {err.strerror}", file=sys.stderr)
                return 1
            try:
                async with database.transaction() as session:
                    applied = await workbook.import_workbook(session, access=access, data=data)
            except workbook.WorkbookRejected as err:
                print(gettext(err.msgid, count=len(err.problems)), file=sys.stderr)
                for problem in err.problems:
                    print("- " + workbook.render(problem), file=sys.stderr)
                return 1
            print(f"imported: {applied.created} created, {applied.changed} changed, {applied.unchanged} unchanged")
            return 0
        async with database.transaction() as session:
            district_id = await workbook.district_id_by_code(session, access=access, code=args.district)
            data = await workbook.export(session, access=access, district_id=district_id)
        args.path.write_bytes(data)
        print(f"directory written to {args.path}")
        return 0
    finally:
        await database.dispose()


def _backup(path: Path) -> int:
    from dolbom import backup
    from storage.db import is_sqlite

    url = get_settings().database_url
    if not is_sqlite(url):
        print(backup.pg_dump_command(url, path), file=sys.stderr)
        return 2
    counts = backup.backup_sqlite(url, path)
    print(f"backup written to {path.resolve()} ({sum(counts.values())} rows in {len(counts)} tables)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the dolbom command; return the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logs.install()
    try:
        settings = get_settings()
        if args.command == "serve":
            from dolbom import runner

            roles = (args.only,) if args.only else runner.ROLES
            asyncio.run(runner.serve(settings=settings, roles=roles))
        elif args.command == "migrate":
            from storage import migrate

            migrate.upgrade(settings.database_url)
            print("database is at the newest schema")
        elif args.command == "demo":
            asyncio.run(_demo())
        elif args.command == "operator":
            asyncio.run(_operator_add(args))
        elif args.command == "district":
            return asyncio.run(_district(args))
        elif args.command == "backup":
            return _backup(args.path)
    except AppError as err:
        params = {k: gettext(v) if isinstance(v, str) else v for k, v in err.params.items()}
        print(gettext(err.msgid, **params), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
