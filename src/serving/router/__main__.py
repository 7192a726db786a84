"""``python -m serving.router``: parse arguments, read the admin token, serve."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from serving.errors import ServingError
from serving.router.server import ADMIN_TOKEN_ENV, RouterSettings, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving.router", description=__doc__)
    fields = RouterSettings.model_fields
    for name, field in fields.items():
        flag = "--" + name.replace("_", "-")
        if field.annotation is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, default=None, help=field.description)
    args = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    for path_arg in ("key_file", "state_file", "client_keys_file", "initial_table"):
        if path_arg in args:
            args[path_arg] = Path(args[path_arg])
    args.setdefault("key_file", None)
    token = os.environ.get(ADMIN_TOKEN_ENV, "")
    if not token:
        sys.exit(f"set {ADMIN_TOKEN_ENV} to the router's admin token")
    try:
        settings = RouterSettings.model_validate(args)
    except ValidationError as exc:
        sys.exit(f"invalid arguments: {exc}")
    # The router's own notes (the initial table) at INFO; libraries (httpx logs every
    # request at INFO) only from WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("serving.router").setLevel(logging.INFO)
    try:
        serve(settings, token)
    except ServingError as exc:
        sys.exit(f"{exc.code.value}: {exc}")


if __name__ == "__main__":
    main()
