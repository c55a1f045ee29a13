"""`fitsflow clean` on a data folder with aged sessions (mtimes set with os.utime) and a queue
database written with Python's sqlite3: only old sessions the queue does not hold are deleted,
temp/.keep and everything outside temp/ stay, --dry-run deletes nothing, bad input is refused."""
import os
import sqlite3
import time

from fftest import check, run, run_checks, scratch

HOUR = 3600


def make_data_dir(name, with_queue=True):
    d = scratch(name)
    now = time.time()

    def put(rel, hours_old, data=b"x"):
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        t = now - hours_old * HOUR
        os.utime(p, (t, t))

    put("temp/.keep", 1000, b"")
    put("temp/oldsession-1/fits/a.fits", 30)
    put("temp/oldsession-1/logs/a_log_1.txt", 29)
    put("temp/oldsession-1/processed/data/a_data.npy", 28)
    put("temp/pendingsession/fits/b.fits", 50)
    put("temp/runningsession/fits/c.fits", 50)
    put("temp/youngsession/fits/d.fits", 3)
    put("temp/halfyoung-session/fits/e.fits", 80)
    put("temp/halfyoung-session/logs/e_log_7.txt", 10)
    put("daily_videos/20200101_stitched.mp4", 5000)
    if with_queue:
        db = sqlite3.connect(os.path.join(d, "queue.db"))
        db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, sid TEXT NOT NULL "
                   "UNIQUE, state TEXT NOT NULL CHECK (state IN ('pending', 'running')), rerun "
                   "INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, queued_at "
                   "INTEGER NOT NULL, started_at INTEGER)")
        db.execute("INSERT INTO jobs (sid, state, queued_at) VALUES ('pendingsession', 'pending', 0)")
        db.execute("INSERT INTO jobs (sid, state, queued_at) VALUES ('runningsession', 'running', 0)")
        db.commit()
        db.close()
    return d


def exists(d, rel):
    return os.path.exists(os.path.join(d, rel))


@check
def dry_run_deletes_nothing():
    d = make_data_dir("clean-dry")
    p = run("clean", "--data-dir", d, "--dry-run", check_status=0)
    assert "would delete oldsession-1: 3 objects" in p.stdout, p.stdout
    assert "kept pendingsession: queued or being processed" in p.stdout, p.stdout
    assert "kept runningsession: queued or being processed" in p.stdout, p.stdout
    assert "would delete 1 session (3 objects); kept 2 younger than 24 h and 2 busy" in p.stdout, p.stdout
    assert exists(d, "temp/oldsession-1/fits/a.fits")


@check
def deletes_only_old_idle_sessions():
    d = make_data_dir("clean-real")
    p = run("clean", "--data-dir", d, check_status=0)
    assert "deleted 1 session (3 objects)" in p.stdout, p.stdout
    assert not exists(d, "temp/oldsession-1"), "the old session's folder should be gone"
    for rel in ("temp/.keep", "temp/pendingsession/fits/b.fits", "temp/runningsession/fits/c.fits",
                "temp/youngsession/fits/d.fits", "temp/halfyoung-session/fits/e.fits",
                "daily_videos/20200101_stitched.mp4", "queue.db"):
        assert exists(d, rel), f"{rel} should have been kept"
    # The queue database is still a valid SQLite database with both jobs.
    db = sqlite3.connect(os.path.join(d, "queue.db"))
    rows = sorted(r[0] for r in db.execute("SELECT sid FROM jobs"))
    db.close()
    assert rows == ["pendingsession", "runningsession"], rows


@check
def environment_and_retention():
    d = make_data_dir("clean-env", with_queue=False)
    # Retention 12 h from the environment: the 10-hour-old session stays, the rest go.
    p = run("clean", "-q", env={"FITSFLOW_DATA_DIR": d, "FITSFLOW_RETENTION_HOURS": "12"},
            check_status=0)
    assert "deleted 3 sessions" in p.stdout, p.stdout
    assert exists(d, "temp/halfyoung-session/logs/e_log_7.txt")
    assert exists(d, "temp/youngsession/fits/d.fits")
    assert not exists(d, "temp/pendingsession")
    # The flag wins over the environment; 0 hours deletes every idle session.
    p = run("clean", "--retention-hours", "0", "--data-dir", d,
            env={"FITSFLOW_RETENTION_HOURS": "12"}, check_status=0)
    assert "deleted 2 sessions" in p.stdout, p.stdout
    assert sorted(os.listdir(os.path.join(d, "temp"))) == [".keep"]
    assert exists(d, "daily_videos/20200101_stitched.mp4")


@check
def bad_input_is_refused():
    d = make_data_dir("clean-bad")
    for args, env in ((["--retention-hours", "-1"], {}), (["--retention-hours", "12h"], {}),
                      (["--bogus"], {}), (["extra"], {}), ([], {"FITSFLOW_RETENTION_HOURS": "x"})):
        p = run("clean", "--data-dir", d, *args, env=env)
        assert p.returncode == 2, (args, env, p.returncode, p.stderr)
        assert p.stderr.strip(), "a usage error must say what is wrong"
    p = run("clean", "--data-dir", os.path.join(d, "missing"))
    assert p.returncode == 1 and "does not exist" in p.stderr, p.stderr
    # A queue database that cannot be read: refuse rather than risk deleting busy sessions.
    with open(os.path.join(d, "queue.db"), "wb") as f:
        f.write(b"not a database " * 100)
    p = run("clean", "--data-dir", d)
    assert p.returncode == 1 and "queue" in p.stderr, (p.returncode, p.stderr)
    assert exists(d, "temp/oldsession-1/fits/a.fits")
    p = run("clean", "--help", check_status=0)
    assert "--retention-hours" in p.stdout


run_checks()
