"""Every Python module a test imports and every command a test runs is installed by `make deps`.

A package installed by hand makes the suite green on that machine and red on a new one. This test
reads the tests' sources (tests/**/*.py with the ast module: imports, subprocess/os.system
commands, shutil.which names, /usr/bin/... paths; tests/**/*.mjs: npm imports) and checks each
name two ways:
  - declared: the module or command is in scripts/deps.sh's maps (PY_MODULES, COMMANDS), and an
    npm import is in package.json;
  - installed by make deps: on this machine, every file the import needs (dependencies
    included: sunpy's colour maps load matplotlib) and every command's program belongs to a Debian
    package that scripts/deps.sh installs, or one those depend on, or the base system. A file no
    package owns (pip, /usr/local) fails it too. An import that still works with such files made
    unimportable did not need them (botocore tries OpenSSL and goes on without it).
Two checks prove that both ways can fail: a made-up test that imports matplotlib and runs
commands nobody declared, and the real scan against deps.sh without python3-matplotlib."""
import ast
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

from fftest import check, run_checks

SRC = os.environ.get("FF_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
TESTS = os.path.join(SRC, "tests")
PYTHON = "/usr/bin/python3"
SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}
OS_SHELL_CALLS = {"system", "popen"}
SYSTEM_PATH = re.compile(r"^/(?:usr/)?s?bin/([A-Za-z0-9_.+-]+)$")
PROJECT_DIRS_SKIPPED = {"node_modules", ".git"}


# ---------- what scripts/deps.sh declares ----------

def declared():
    p = subprocess.run(["bash", os.path.join(SRC, "scripts", "deps.sh"), "--list"], capture_output=True,
                       text=True, check=True, timeout=60)
    d = {"packages": set(), "modules": {}, "commands": {}}
    for line in p.stdout.splitlines():
        kind, *rest = line.split()
        if kind == "package":
            d["packages"].add(rest[0])
        elif kind == "module":
            d["modules"][rest[0]] = rest[1]
        elif kind == "command":
            d["commands"][rest[0]] = rest[1]
    assert d["packages"] and d["modules"] and d["commands"], f"scripts/deps.sh --list printed:\n{p.stdout}"
    return d


# ---------- what the tests use ----------

def project_files(top, ext):
    for root, dirs, files in os.walk(top):
        dirs[:] = [x for x in dirs if x not in PROJECT_DIRS_SKIPPED and not x.startswith("build")]
        for f in sorted(files):
            if f.endswith(ext):
                yield os.path.join(root, f)


def local_module_names():
    """Modules of the project itself (tests/e2e/fftest.py and such): never a dependency."""
    return {os.path.basename(p)[:-3] for p in project_files(SRC, ".py")}


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _command_of(arg):
    """The program an argument to subprocess.* names (as written: a name or a path), when the
    source spells it out."""
    if isinstance(arg, (ast.List, ast.Tuple)) and arg.elts:
        first = arg.elts[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
        return None  # a variable: the project's binary, a tool it built, sys.executable ...
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.strip():
        try:
            words = shlex.split(arg.value)
        except ValueError:
            words = arg.value.split()
        return words[0] if words else None
    return None


def scan_python(path):
    """(imports, commands): imports as (line, dotted name, optional) where optional marks the
    X.Y of `from X import Y` (Y may be a name, not a module); commands as (line, name, path)
    where path is the absolute path the source gives, or None (found on PATH)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    imports, commands = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                imports.append((node.lineno, a.name, False))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imports.append((node.lineno, node.module, False))
            for a in node.names:
                if a.name != "*":
                    imports.append((node.lineno, f"{node.module}.{a.name}", True))
        elif isinstance(node, ast.Call):
            fn = _dotted(node.func) or ""
            mod, _, name = fn.rpartition(".")
            cmd = None
            if node.args and ((mod == "subprocess" and name in SUBPROCESS_CALLS) or
                              (mod == "os" and name in OS_SHELL_CALLS)):
                cmd = _command_of(node.args[0])
            elif fn == "shutil.which" and node.args and isinstance(node.args[0], ast.Constant):
                cmd = str(node.args[0].value)
            if cmd:
                commands.append((node.lineno, os.path.basename(cmd), cmd if cmd.startswith("/") else None))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = SYSTEM_PATH.match(node.value)
            if m:
                commands.append((node.lineno, m.group(1), node.value))
    return imports, commands


NODE_IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]""")


def scan_node(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            for m in NODE_IMPORT.finditer(line):
                spec = m.group(1)
                if spec.startswith((".", "/", "node:")):
                    continue
                name = "/".join(spec.split("/")[:2]) if spec.startswith("@") else spec.split("/")[0]
                out.append((i, name))
    return out


def third_party(name, local):
    top = name.split(".")[0]
    return top not in sys.stdlib_module_names and top not in local and top != "__future__"


def undeclared(files, decl, local):
    """Problems: imports and commands in files that scripts/deps.sh does not declare."""
    problems = []
    for path in files:
        rel = os.path.relpath(path, SRC)
        imports, commands = scan_python(path)
        for line, name, optional in imports:
            top = name.split(".")[0]
            if not optional and third_party(name, local) and top not in decl["modules"]:
                problems.append(f"{rel}:{line} imports {top}, which scripts/deps.sh does not declare "
                                f"(add module:package to PY_MODULES)")
        for line, cmd, _ in commands:
            if cmd not in decl["commands"]:
                problems.append(f"{rel}:{line} runs {cmd}, which scripts/deps.sh does not declare "
                                f"(add command:package to COMMANDS)")
    return problems


# ---------- where the used things come from on this machine ----------

def installed_by(packages):
    """Every installed package that installing these brings (Depends and Pre-Depends, recursively,
    read from dpkg's database; an alternative or a virtual package counts through whichever of
    its packages is installed), plus the base system (Essential or Priority required)."""
    q = subprocess.run(["dpkg-query", "-W", "-f",
                        "${Package}\t${db:Status-Status}\t${Essential}\t${Priority}\t${Provides}\t"
                        "${Depends}, ${Pre-Depends}\n"], capture_output=True, text=True, timeout=60)
    assert q.returncode == 0, q.stderr
    deps, providers, closure = {}, {}, set()
    name = lambda x: x.strip().split(" ")[0].split(":")[0]  # noqa: E731 "libc6:amd64 (>= 2.34)"
    for line in q.stdout.splitlines():
        pkg, status, essential, priority, provides, depends = (line.split("\t") + [""] * 6)[:6]
        if status != "installed":
            continue
        deps[pkg] = [[name(a) for a in group.split("|") if a.strip()] for group in depends.split(",") if group.strip()]
        for v in provides.split(","):
            if v.strip():
                providers.setdefault(name(v), set()).add(pkg)
        if essential == "yes" or priority == "required":
            closure.add(pkg)
    seen = {p for p in packages if p in deps}
    todo = list(seen)
    while todo:
        for group in deps[todo.pop()]:
            for alt in group:
                for real in ({alt} if alt in deps else set()) | providers.get(alt, set()):
                    if real not in seen:
                        seen.add(real)
                        todo.append(real)
    return closure | seen


def owners(paths):
    """{path: set of packages} for the files dpkg knows (usr-merged /bin and /usr/bin both tried)."""
    variants = {}
    for p in paths:
        cands = [p, os.path.realpath(p)]
        for c in list(cands):
            for a, b in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/usr/lib/", "/lib/")):
                if c.startswith(a):
                    cands.append(b + c[len(a):])
                elif c.startswith(b):
                    cands.append(a + c[len(b):])
        variants[p] = list(dict.fromkeys(cands))
    allc = sorted({c for cs in variants.values() for c in cs})
    found = {}
    for i in range(0, len(allc), 200):
        r = subprocess.run(["dpkg-query", "-S", *allc[i:i + 200]], capture_output=True, text=True, timeout=120)
        for line in r.stdout.splitlines():
            if line.startswith("diversion by") or ": " not in line:
                continue
            pkgs, path = line.split(": ", 1)
            if path in allc:
                found.setdefault(path, set()).update(x.strip().split(":")[0] for x in pkgs.split(","))
    return {p: set().union(*(found.get(c, set()) for c in cs)) for p, cs in variants.items()}


def representative(path):
    """One file stands for its directory tree under dist-packages (a package's files share an
    owner), or for its directory elsewhere: dpkg is asked about a few hundred files, not all."""
    for sp in ("/usr/lib/python3/dist-packages/", "/usr/local/lib/"):
        if path.startswith(sp):
            return sp + path[len(sp):].split("/")[0]
    return os.path.dirname(path)


# Imports each name in turn and prints the files each import loaded. FF_BLOCK ({representative:
# why}) makes modules found there unimportable, as on a machine without their package: an import
# that still works did not need them (botocore tries OpenSSL, and goes on without it).
IMPORTER = r"""
import importlib, importlib.machinery, json, os, sys, warnings
warnings.simplefilter("ignore")
BLOCK = json.loads(os.environ.get("FF_BLOCK", "{}"))
%s

class Block:
    def find_spec(self, name, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        where = spec.origin
        if not where or where in ("namespace", "built-in", "frozen"):
            where = next(iter(spec.submodule_search_locations or []), None)
        why = BLOCK.get(representative(where)) if where else None
        if why:
            raise ModuleNotFoundError(f"No module named {name!r} without {why}", name=name)
        return None

if BLOCK:
    sys.meta_path.insert(0, Block())
out = {}
for spec in sys.argv[1:]:
    name, optional = spec[1:], spec[0] == "?"
    before = set(sys.modules)
    err = None
    try:
        importlib.import_module(name)
    except BaseException as e:
        # `from X import Y` where Y is a name in X, not a module, is no error.
        if not (optional and isinstance(e, ModuleNotFoundError) and e.name == name):
            err = f"{type(e).__name__}: {e}"
    files = {getattr(sys.modules[m], "__file__", None) for m in set(sys.modules) - before}
    out[name] = {"error": err, "files": sorted(f for f in files if f)}
print(json.dumps(out))
"""


def import_files(names, extra_path=None, block=None):
    """{name: {"error", "files"}} from importing each name in order in one /usr/bin/python3."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MPLBACKEND"] = "Agg"
    env["FF_BLOCK"] = json.dumps(block or {})
    if extra_path:
        env["PYTHONPATH"] = extra_path
    code = IMPORTER % inspect.getsource(representative)
    p = subprocess.run([PYTHON, "-c", code, *names], capture_output=True, text=True, env=env,
                       timeout=300, cwd=tempfile.gettempdir())
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.splitlines()[-1])


def foreign(uses, allowed):
    """uses: {what: [files]}. {representative: (what, file, why)} for files from no package, or
    only from packages make deps does not install."""
    reps = {}
    for what, files in uses.items():
        for f in files:
            if not os.path.realpath(f).startswith(SRC + os.sep):
                reps.setdefault(representative(f), (f, what))
    own = owners([f for f, _ in reps.values()])
    out = {}
    for rep, (f, what) in sorted(reps.items()):
        pk = own.get(f, set())
        if not pk:
            out[rep] = (what, f, "a file no Debian package installed (by hand, pip or /usr/local?)")
        elif not pk & allowed:
            out[rep] = (what, f, f"{', '.join(sorted(pk))}, which scripts/deps.sh does not install")
    return out


def python_problems(files, local, allowed, extra_path=None):
    """Imports that fail here, or that work only thanks to what make deps does not install (they
    are tried again with those files unimportable)."""
    specs = []
    for path in files:
        for _, name, optional in scan_python(path)[0]:
            if third_party(name, local):
                specs.append(("?" if optional else "!") + name)
    specs = list(dict.fromkeys(specs))
    res = import_files(specs, extra_path)
    problems = [f"import {n}: {r['error']}" for n, r in res.items() if r["error"]]
    bad = foreign({n: r["files"] for n, r in res.items()}, allowed)
    if bad:
        again = import_files(specs, extra_path, block={rep: why for rep, (_, _, why) in bad.items()})
        for n, r in again.items():
            if r["error"] and not res[n]["error"]:
                err, _, why = r["error"].partition(" without ")
                why = why or "; ".join(sorted({w for _, _, w in bad.values()}))
                problems.append(f"import {n} needs {why} ({err})")
    return problems


def command_problems(files, allowed):
    problems, uses = [], {}
    for path in files:
        for _, cmd, given in scan_python(path)[1]:
            where = given if given and os.path.exists(given) else (None if given else shutil.which(cmd))
            if not where:
                problems.append(f"{os.path.relpath(path, SRC)} runs {given or cmd}, which is not installed: "
                                f"run make deps")
            else:
                uses[f"command {given or cmd}"] = [where]
    problems += [f"{what} is {f}: {why}" for what, f, why in foreign(uses, allowed).values()]
    return problems


# ---------- the checks ----------

DECL = declared()
LOCAL = local_module_names()
TEST_FILES = list(project_files(TESTS, ".py"))
ALLOWED = installed_by(DECL["packages"])


@check
def every_import_and_command_is_declared():
    problems = undeclared(TEST_FILES, DECL, LOCAL)
    assert not problems, "\n".join(problems)
    for pkg in set(DECL["modules"].values()) | set(DECL["commands"].values()):
        assert pkg in DECL["packages"], f"{pkg} is in a map of scripts/deps.sh but not installed by it"


@check
def every_import_comes_from_make_deps():
    problems = python_problems(TEST_FILES, LOCAL, ALLOWED)
    assert not problems, "\n".join(problems)


@check
def every_command_comes_from_make_deps():
    problems = command_problems(TEST_FILES, ALLOWED)
    assert not problems, "\n".join(problems)


@check
def npm_imports_are_in_package_json():
    with open(os.path.join(SRC, "package.json")) as f:
        pj = json.load(f)
    deps = set(pj.get("devDependencies", {})) | set(pj.get("dependencies", {}))
    builtins = set()
    node = shutil.which("node")
    if node:
        p = subprocess.run([node, "-p", "require('module').builtinModules.join('\\n')"], capture_output=True,
                           text=True, timeout=60)
        builtins = set(p.stdout.split())
    problems = []
    for path in list(project_files(TESTS, ".mjs")) + list(project_files(TESTS, ".js")):
        for line, name in scan_node(path):
            if name in builtins:
                continue
            rel = os.path.relpath(path, SRC)
            if name not in deps:
                problems.append(f"{rel}:{line} imports {name}, which package.json does not list")
            elif not os.path.isfile(os.path.join(SRC, "node_modules", name, "package.json")):
                problems.append(f"{rel}:{line} imports {name}, which is not in node_modules: run make deps")
    assert not problems, "\n".join(problems)


@check
def a_new_undeclared_import_or_command_fails():
    """The scan is not blind: a test someone adds with matplotlib, gnuplot and wrk2 is refused."""
    d = tempfile.mkdtemp()
    path = os.path.join(d, "test_new.py")
    with open(path, "w") as f:
        f.write("import os, subprocess, shutil\nimport matplotlib.pyplot as plt\nfrom gnuplotlib import plot\n"
                "def go():\n    subprocess.run(['gnuplot', '-e', 'plot x'], check=True)\n"
                "    os.system('wrk2 -d 1 http://127.0.0.1/')\n    return shutil.which('xvfb-run')\n"
                "VIEWER = '/usr/bin/eog'\n")
    without = {**DECL, "modules": {k: v for k, v in DECL["modules"].items() if k != "matplotlib"}}
    got = "\n".join(undeclared([path], without, LOCAL))
    for want in ("imports matplotlib", "imports gnuplotlib", "runs gnuplot", "runs wrk2", "runs xvfb-run",
                 "runs eog"):
        assert want in got, f"the scan missed '{want}':\n{got}"
    shutil.rmtree(d)


@check
def a_dependency_make_deps_does_not_install_fails():
    """Without python3-matplotlib in scripts/deps.sh, sunpy's colour maps (test_render_interop)
    load files no installed-by-deps package owns, and a module put on the path by hand is found."""
    allowed = installed_by(DECL["packages"] - {"python3-matplotlib"})
    assert "python3-matplotlib" not in allowed, "python3-matplotlib is a dependency of a package deps.sh installs"
    got = "\n".join(python_problems(TEST_FILES, LOCAL, allowed))
    assert re.search(r"import sunpy\.visualization\.colormaps needs python3-matplotlib, which scripts/deps\.sh "
                     r"does not install", got), got
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "test_handmade.py"), "w") as f:
        f.write("import ffhandmade\n")
    with open(os.path.join(d, "ffhandmade.py"), "w") as f:
        f.write("VALUE = 1\n")
    got = "\n".join(python_problems([os.path.join(d, "test_handmade.py")], LOCAL, ALLOWED, extra_path=d))
    assert "import ffhandmade needs a file no Debian package installed" in got, got
    shutil.rmtree(d)


run_checks()
