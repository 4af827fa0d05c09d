"""Mutation testing of the security checks (mutmut 3): every mutant of
dlmstw/security and dlmstw/association is run against the fast security tests;
the survivors are printed, each a unified diff, for a person to judge. Not run
by the tests: one run takes tens of minutes on one core.

    pip install 'mutmut==3.8.1'           # or: pip install -e '.[mutation]'
    python bench/mutants.py               # every mutant, one process
    python bench/mutants.py --only dlmstw/security/mechanisms.py   # a few files
    python bench/mutants.py --quick       # dlmstw/security/mechanisms.py only: a check of the set-up

It works in a copy of the checkout in a temporary folder (mutmut writes its
mutants/ folder beside the code) and leaves the checkout untouched. Exit
status: 0 no survivor, 1 survivors (listed), 2 mutmut is missing or failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MUTATED = ("dlmstw/security/*", "dlmstw/association/*")
#: The tests that judge a mutant: the in-process ones (mutmut runs them in its own process), a few seconds in all.
TESTS = ("tests/test_security_rules.py", "tests/test_service_errors.py", "tests/test_session.py",
         "tests/test_ciphering.py", "tests/test_hls.py", "tests/test_keys.py", "tests/test_ecdsa.py",
         "tests/test_certificates.py", "tests/test_services.py", "tests/test_client_security.py",
         "tests/test_dissector.py", "tests/test_state.py", "tests/test_config.py",
         "tests/test_plugins.py", "-m", "not lab")
QUICK = ("dlmstw/security/mechanisms.py",)
COPIED = ("dlmstw", "tests", "twisted", "templates", "etc", "examples", "setup.cfg", "pyproject.toml")


def configuration(only: tuple[str, ...], tests: tuple[str, ...]) -> str:
    """mutmut's [mutmut] section (setup.cfg) for the copy."""
    def listed(items: tuple[str, ...]) -> str:
        return "\n" + "\n".join(f"    {item}" for item in items)
    return (f"\n[mutmut]\nsource_paths = dlmstw\nonly_mutate ={listed(only)}\n"
            f"also_copy ={listed(COPIED[1:])}\n"
            f"pytest_add_cli_args_test_selection ={listed(tests)}\n"
            "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -q\n")


def run(only: tuple[str, ...], tests: tuple[str, ...], keep: Path | None) -> int:
    if importlib.util.find_spec("mutmut") is None:
        print("mutmut is not installed: pip install 'mutmut==3.8.1'")
        return 2
    mutmut = [sys.executable, "-m", "mutmut"]
    work = Path(tempfile.mkdtemp(prefix="dlmstw-mutants-")) if keep is None else keep
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, work / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.exists():
            shutil.copy2(source, work / name)
    with (work / "setup.cfg").open("a") as cfg:
        cfg.write(configuration(only, tests))
    env = {**os.environ, "PYTHONPATH": ""}
    print(f"mutating {', '.join(only)} in {work}", flush=True)
    done = subprocess.run([*mutmut, "run", "--max-children", "1"], cwd=work, env=env)
    if done.returncode != 0:
        print(f"mutmut run failed with status {done.returncode}")
        return 2
    results = subprocess.run([*mutmut, "results"], cwd=work, env=env, capture_output=True, text=True).stdout
    survivors = [line.split(":")[0].strip() for line in results.splitlines() if line.strip().endswith("survived")]
    for name in survivors:
        diff = subprocess.run([*mutmut, "show", name], cwd=work, env=env, capture_output=True, text=True).stdout
        print(f"--- survivor {name}\n{diff}")
    print(f"{len(survivors)} survivors ({work})")
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if survivors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", help="mutate these files (globs) instead of " + ", ".join(MUTATED))
    parser.add_argument("--quick", action="store_true", help="mutate " + ", ".join(QUICK) + " only")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    only = tuple(args.only or (QUICK if args.quick else MUTATED))
    return run(only, TESTS, args.keep)


if __name__ == "__main__":
    sys.exit(main())
