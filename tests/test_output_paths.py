"""Output paths are checked before the run (a directory, a missing directory, no write
permission: one line, exit 2, no request sent), and a write that fails during or after the
run (a full disk: /dev/full fails every write with ENOSPC) is one line and exit 2, with
every other output still written."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import run_cli
from rawserver import RawServer, Seen, response

from llmbench_async.errors import ExitCode

FLAGS = ("-o", "--json", "--markdown", "--junit", "--html")
FULL = Path("/dev/full")


def _counting() -> tuple[RawServer, list[Seen]]:
    seen: list[Seen] = []

    def handler(request: Seen, number: int) -> bytes:
        seen.append(request)
        return response(500, b"{}")

    return RawServer(handler), seen


@pytest.mark.parametrize("flag", FLAGS)
def test_an_output_naming_a_directory_fails_before_any_request(tmp_path: Path, flag: str) -> None:
    server, seen = _counting()
    with server as srv:
        res = run_cli("--base-url", f"{srv.url}/v1", "-m", "m", "-n", "2", flag, str(tmp_path))
    assert res.code == ExitCode.USAGE
    assert res.stderr.splitlines() == [
        f"llmbench-async: error: {'--output' if flag == '-o' else flag}: {tmp_path} is a "
        "directory; give a file name"
    ]
    assert seen == []


def test_a_missing_directory_fails_before_any_request(tmp_path: Path) -> None:
    server, seen = _counting()
    missing = tmp_path / "no" / "such" / "out.json"
    with server as srv:
        res = run_cli("--base-url", f"{srv.url}/v1", "-m", "m", "-n", "2", "--json", str(missing))
    assert res.code == ExitCode.USAGE
    assert res.stderr.splitlines() == [
        f"llmbench-async: error: --json: directory {missing.parent} does not exist"
    ]
    assert seen == []


@pytest.mark.parametrize(
    "target",
    # sysfs refuses root and users alike: a read-only attribute, and a directory that takes
    # no new file
    [Path("/sys/kernel/uevent_seqnum"), Path("/sys/llmbench-out.xml")],
)
def test_an_unwritable_path_fails_before_any_request(target: Path) -> None:
    server, seen = _counting()
    with server as srv:
        res = run_cli("--base-url", f"{srv.url}/v1", "-m", "m", "-n", "2", "--junit", str(target))
    assert res.code == ExitCode.USAGE, res.stderr
    assert res.stderr.splitlines() == [
        f"llmbench-async: error: --junit: cannot write {target}: Permission denied"
    ]
    assert seen == []


def test_the_check_leaves_no_file_behind(tmp_path: Path) -> None:
    server, seen = _counting()
    with (
        server as srv
    ):  # --html names a missing directory: exit 2, and the probe of --markdown left nothing
        res = run_cli(
            "--base-url", f"{srv.url}/v1", "-m", "m", "-n", "1", "--retries", "0", "-q",
            "--markdown", str(tmp_path / "never.md"), "--html", str(tmp_path / "missing" / "x"),
        )  # fmt: skip
    assert res.code == ExitCode.USAGE and seen == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", ["--json", "--markdown", "--junit", "--html"])
def test_a_full_disk_is_one_line_and_the_other_outputs_are_written(
    tmp_path: Path, instant_mock_url: str, flag: str
) -> None:
    paths = {
        "--json": tmp_path / "s.json",
        "--markdown": tmp_path / "s.md",
        "--junit": tmp_path / "s.xml",
        "--html": tmp_path / "s.html",
    }
    paths[flag] = FULL
    args = [a for f, p in paths.items() for a in (f, str(p))]
    res = run_cli("--base-url", instant_mock_url, "-n", "2", *args, "-o", str(tmp_path / "r.jsonl"))
    assert res.code == ExitCode.USAGE, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.splitlines() == [
        "llmbench-async: error: cannot write /dev/full: No space left on device"
    ]
    assert "2 ok, 0 failed" in res.stdout  # the console report was printed
    for other, path in paths.items():
        if other != flag:
            assert path.stat().st_size > 0, other
    if flag != "--json":
        assert json.loads(paths["--json"].read_text())["requests"]["ok"] == 2
    if flag != "--junit":
        ET.fromstring(paths["--junit"].read_bytes())
    assert (tmp_path / "r.jsonl").read_text().count('"type":"request"') == 2


def test_a_results_file_on_a_full_disk_is_one_line_after_the_report(
    tmp_path: Path, instant_mock_url: str
) -> None:
    summary = tmp_path / "s.json"
    res = run_cli(
        "--base-url", instant_mock_url, "-n", "3", "-o", str(FULL), "--json", str(summary)
    )
    assert res.code == ExitCode.USAGE, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.splitlines() == [
        "llmbench-async: error: cannot write /dev/full: No space left on device"
    ]
    assert json.loads(summary.read_text())["requests"]["ok"] == 3
    assert "3 ok, 0 failed" in res.stdout


def test_a_sweep_on_a_full_disk_still_writes_its_other_outputs(
    tmp_path: Path, instant_mock_url: str
) -> None:
    summary = tmp_path / "s.json"
    res = run_cli(
        "--base-url", instant_mock_url, "-c", "1,2", "-n", "2", "--markdown", str(FULL),
        "--json", str(summary), "-q",
    )  # fmt: skip
    assert res.code == ExitCode.USAGE
    assert res.stderr.splitlines()[-1] == (
        "llmbench-async: error: cannot write /dev/full: No space left on device"
    )
    assert [lv["level"]["label"] for lv in json.loads(summary.read_text())["levels"]] == [
        "c=1",
        "c=2",
    ]


def test_report_and_compare_check_their_outputs_first(
    tmp_path: Path, instant_mock_url: str
) -> None:
    results = tmp_path / "r.jsonl"
    res = run_cli("--base-url", instant_mock_url, "-n", "2", "-o", str(results), "-q")
    assert res.code == 0, res.stderr
    for argv in (
        ("report", str(results), "--html", str(tmp_path)),
        ("compare", str(results), str(results), "--markdown", str(tmp_path)),
    ):
        out = run_cli(*argv)
        assert out.code == ExitCode.USAGE
        assert out.stderr.splitlines() == [
            f"llmbench-async: error: {argv[-2]}: {tmp_path} is a directory; give a file name"
        ]
        assert out.stdout == ""
    full = run_cli("compare", str(results), str(results), "--markdown", str(FULL))
    assert full.code == ExitCode.USAGE
    assert full.stderr.splitlines() == [
        "llmbench-async: error: cannot write /dev/full: No space left on device"
    ]
    assert "compare: no --max-regression given" in full.stdout


@pytest.mark.parametrize(
    ("first", "second"),
    [("-o", "--json"), ("--json", "--markdown"), ("--html", "--junit"), ("-o", "--html")],
)
def test_two_outputs_naming_one_file_are_refused_before_the_run(
    first: str, second: str, tmp_path: Path
) -> None:
    """The second would overwrite the first (the results file by a summary): one line,
    exit 2, no request sent. The same file named two ways (`./x`) is still one file."""
    server, seen = _counting()
    with server:
        res = run_cli(
            *("--base-url", server.url + "/v1", "-m", "m", "-n", "1"),
            *(first, str(tmp_path / "out.txt"), second, str(tmp_path / "." / "out.txt")),
        )
    assert res.code == ExitCode.USAGE, res.stderr
    assert res.stderr.count("\n") == 1 and "both name" in res.stderr
    assert seen == []
    assert not (tmp_path / "out.txt").exists()


def test_an_output_never_overwrites_an_input(tmp_path: Path) -> None:
    """`report RUN --json RUN`, `compare A B --markdown B`, `run --dataset F -o F`: one line,
    exit 2, and the input is left as it was."""
    results = tmp_path / "run.jsonl"
    made = run_cli("--mock", "-n", "2", "-q", "-o", str(results))
    assert made.code == 0, made.stderr
    before = results.read_bytes()
    other = tmp_path / "other.jsonl"
    other.write_bytes(before)
    cases = [
        ["report", str(results), "--json", str(results)],
        ["report", str(results), "--html", str(results)],
        ["compare", str(other), str(results), "--markdown", str(results)],
        ["compare", str(results), str(other), "--html", str(results)],
        ["--mock", "-n", "1", "--dataset", str(results), "-o", str(results)],
        ["--mock", "-n", "1", "--prompt-file", str(results), "--json", str(results)],
    ]
    for argv in cases:
        res = run_cli(*argv)
        assert res.code == ExitCode.USAGE, (argv, res.stderr)
        assert res.stderr.count("\n") == 1 and "both name" in res.stderr, res.stderr
        assert results.read_bytes() == before, argv


def test_dev_null_may_take_every_output(tmp_path: Path) -> None:
    res = run_cli("--mock", "-n", "1", "-q", "-o", "/dev/null", "--json", "/dev/null")
    assert res.code == 0, res.stderr
