"""End-to-end: `fitsflow process` on each bad FITS fixture together with a good file. The run must
exit 1, print exactly one stderr line naming the bad file with the reason, write nothing for the
bad file, and still write the good file's outputs. Plain script: exit status 0 means all passed."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fitsgen  # noqa: E402

GOOD = "bitpix16.fits"


def outputs_for(out, base):
    found = []
    for root, _dirs, files in os.walk(out):
        for f in files:
            if f == base or f.startswith(base + "_") or f.startswith(base + "."):
                found.append(os.path.relpath(os.path.join(root, f), out))
    return found


def main():
    binary = os.environ.get("FITSFLOW_BIN")
    assert binary and os.path.exists(binary), "set FITSFLOW_BIN to the fitsflow binary"
    tmp = os.path.join(os.environ.get("FF_TEST_TMP", "/tmp"), "fits_badinput")
    shutil.rmtree(tmp, ignore_errors=True)
    src = os.path.join(tmp, "in")
    names = fitsgen.write_bad(src)
    fitsgen.write_good(src, names=[GOOD])
    good_base = fitsgen.base_name(GOOD)

    passed = failed = 0
    for name in names:
        out = os.path.join(tmp, "out_" + name.replace(".", "_"))
        try:
            r = subprocess.run([binary, "process", "-o", out, os.path.join(src, name),
                                os.path.join(src, GOOD)], capture_output=True, text=True, timeout=60)
            assert r.returncode == 1, "exit status %d, want 1 (stderr: %s)" % (r.returncode, r.stderr.strip())
            lines = [ln for ln in r.stderr.splitlines() if name in ln]
            assert len(lines) == 1, "want one stderr line naming %s, got %d: %r" % (name, len(lines), r.stderr)
            low = lines[0].lower()
            for w in fitsgen.BAD_REASONS[name]:
                assert w in low, "reason %r missing from %r" % (w, lines[0])
            left = outputs_for(out, fitsgen.base_name(name))
            assert not left, "outputs left for the bad file: %s" % left
            assert os.path.exists(os.path.join(out, "data", good_base + "_data.npy")), \
                "the good file given in the same run was not processed"
            passed += 1
            print("ok   %-24s %s" % (name, lines[0].strip()))
        except (AssertionError, subprocess.TimeoutExpired) as e:
            failed += 1
            print("FAIL %-24s %s" % (name, e))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
