"""The settings table (src/base/settings.c) and the README agree, both ways: every FITSFLOW_*
variable the code knows has a row in one of the README's tables, and every variable a README table
names is one the code knows. Also: no FITSFLOW_* name appears in src/ without a row in the table,
only the settings module reads FITSFLOW_* variables (no other getenv of them, and no getenv at all
in src/core/ or src/pipeline/), and each default the table gives is written in a README row that
names the variable."""
import os
import re
import subprocess
import sys

SRC = os.environ.get("FF_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
TOOLS = os.environ["FF_TOOLS_DIR"]
NAME = re.compile(r"FITSFLOW_[A-Z0-9_]+")


def table():
    out = subprocess.run([os.path.join(TOOLS, "ff_settings_dump")], check=True, capture_output=True,
                         text=True).stdout
    rows = {}
    for line in out.splitlines():
        name, typ, lo, hi, dflt, used_by, help_ = line.split("\t")
        assert name not in rows, f"{name} has two rows in the settings table"
        rows[name] = {"type": typ, "default": None if dflt == "-" else dflt, "used_by": used_by,
                      "help": help_}
    return rows


def readme_rows():
    """{name: [row text, ...]} for every README table row whose first cell names variables."""
    found = {}
    with open(os.path.join(SRC, "README.md"), encoding="utf-8") as f:
        for line in f:
            if not line.startswith("|"):
                continue
            cells = line.strip().strip("|").split("|")
            for name in NAME.findall(cells[0]):
                if not name.endswith("_"):
                    found.setdefault(name, []).append(line)
    return found


def source_names():
    """{name: first file} of every FITSFLOW_* name in src/, and the files calling getenv on one."""
    names, getenvs, bare = {}, [], []
    for root, _dirs, files in os.walk(os.path.join(SRC, "src")):
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, SRC)
            text = open(path, encoding="utf-8").read()
            for name in NAME.findall(text):
                if not name.endswith("_"):
                    names.setdefault(name, rel)
            if re.search(r'getenv\s*\(\s*"FITSFLOW_', text):
                getenvs.append(rel)
            if rel.startswith(("src/core/", "src/pipeline/")) and re.search(r"\bgetenv\s*\(", text):
                bare.append(rel)
    return names, getenvs, bare


def main():
    rows = table()
    documented = readme_rows()
    problems = []
    for name in sorted(set(rows) - set(documented)):
        problems.append(f"{name} is in the settings table but in no README table")
    for name in sorted(set(documented) - set(rows)):
        problems.append(f"{name} is in a README table but not in the settings table")
    names, getenvs, bare = source_names()
    for name, where in sorted(names.items()):
        if name not in rows:
            problems.append(f"{name} (named in {where}) is not in the settings table")
    for rel in getenvs:
        problems.append(f"{rel} reads a FITSFLOW_* variable itself: only base/settings.c may")
    for rel in bare:
        problems.append(f"{rel} calls getenv: core and pipeline take settings as arguments")
    for name, row in sorted(rows.items()):
        d = row["default"]
        if d and name in documented and not any(d in line for line in documented[name]):
            problems.append(f"{name}: no README row naming it gives its default {d!r}")
    for p in problems:
        print("FAIL", p)
    print(f"{len(rows)} settings, {len(documented)} documented, {len(names)} named in src/")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
