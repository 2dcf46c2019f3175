"""``satudata config check FILE`` and ``satudata reload``: what an operator runs before and after editing the config."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core import ConfigError

from .settings import GatewaySettings, check_config


def config_check(path: Path) -> int:
    """Print ``OK`` (exit 0), or every problem of the file (exit 2): its shape against the config
    tree, then what building the gateway finds (sources, policy, limits...), without serving."""

    import tomllib

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"{path}: the file does not exist", file=sys.stderr)
        return 2
    except tomllib.TOMLDecodeError as exc:
        print(f"{path}: not valid TOML: {exc}", file=sys.stderr)
        return 2
    problems = check_config(raw)
    if problems:
        print(f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    try:
        build_without_serving(path)
    except ConfigError as exc:
        print(f"{path}: {exc.message}", file=sys.stderr)
        return 2
    print(f"{path}: OK")
    return 0


def build_without_serving(path: Path) -> GatewaySettings:
    """Read ``path`` and build the gateway it describes (every connector, the policy, limits,
    documents) without opening a connection; ``ConfigError`` on the first problem."""

    from .app import create_app

    settings = GatewaySettings.from_file(path)
    create_app(settings)
    return settings


def read_pid_file(path: Path) -> int:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"pid file {path} does not exist: is the gateway running with --pid-file {path}?") from None
    if not text.isdigit():
        raise ConfigError(f"pid file {path} does not hold a process id")
    return int(text)


def reload(pid_file: Path | None, pid: int | None, config: Path | None) -> int:
    """Check ``config`` if given (refusing to signal a bad one), then send SIGHUP to the gateway."""

    from .reload import signal_reload

    if config is not None:
        status = config_check(config)
        if status != 0:
            print("satudata: not reloading: the running gateway keeps its config", file=sys.stderr)
            return status
    target = pid if pid is not None else read_pid_file(pid_file) if pid_file is not None else None
    if target is None:
        raise ConfigError("say which gateway to reload: --pid-file FILE (as given to serve) or --pid PID")
    try:
        signal_reload(target)
    except ProcessLookupError:
        print(f"satudata: no process {target} (a stale pid file?)", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"satudata: not allowed to signal process {target} (run as the gateway's user)", file=sys.stderr)
        return 1
    print(
        f"satudata: asked gateway process {target} to reload (SIGHUP); its log says whether it took the new "
        "config or kept the old one",
        file=sys.stderr,
    )
    return 0


def write_pid_file(path: Path) -> None:
    path.write_text(f"{os.getpid()}\n", encoding="utf-8")


def remove_pid_file(path: Path) -> None:
    try:
        if path.read_text(encoding="utf-8").strip() == str(os.getpid()):
            path.unlink()
    except FileNotFoundError:
        pass
