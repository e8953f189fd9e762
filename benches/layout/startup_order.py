#!/usr/bin/env python3
"""Writes `src/startup.order`: the functions of the release `airun` binary that an MCP
session runs, in the order it first runs them, for the linker to lay out side by side.

The kernel maps a program's code into memory 64 KiB at a time around each page it first
touches, so a start-up that touches 550 functions spread over 14 MiB of code maps most of
the binary; laid out together they take a few windows. `build.rs` passes the file to the
linker (lld's `--symbol-ordering-file`) for release builds; names that no longer exist are
skipped, so a stale file costs memory, never correctness.

Run it after changing dependencies or the toolchain (symbol names carry hashes that change
with them), on a release build made with the current file:

    cargo build --release
    python3 benches/layout/startup_order.py target/release/airun

It runs the binary under valgrind's callgrind twice: a session that only initializes (the
first part of the file), then one that lists the tools and calls the common capabilities
(the functions that session adds follow).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

HEADER = """\
# Functions of the `airun` binary in the order an MCP session first runs them: start-up
# and `initialize` first, then listing the tools and the common calls. The linker places
# them side by side (see build.rs), so a session maps a few pages of code instead of most
# of the binary. Written by benches/layout/startup_order.py; run it again after changing
# dependencies or the toolchain.
"""


def session(binary, calls, out):
    """Runs one MCP session over stdio under callgrind, writing its profile to `out`."""
    ws = tempfile.mkdtemp(prefix="airun-layout-ws-")
    home = tempfile.mkdtemp(prefix="airun-layout-home-")
    os.makedirs(os.path.join(ws, "docs"))
    with open(os.path.join(ws, "docs", "a.txt"), "w") as f:
        f.write("hello\nneedle\n")
    cmd = ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
           binary, "serve", "--mcp", "--yes", "--workspace", ws]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env={**os.environ, "AIRUN_HOME": home})

    def send(msg):
        p.stdin.write((json.dumps(msg) + "\n").encode())
        p.stdin.flush()

    def call(i, method, params):
        send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        reply = json.loads(p.stdout.readline())
        if "error" in reply or reply.get("result", {}).get("isError"):
            sys.exit(f"{method} failed: {reply}")
        return reply

    call(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "layout", "version": "1"}})
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for i, (method, params) in enumerate(calls, start=1):
        call(i, method, params)
    p.stdin.close()
    if p.wait() != 0:
        sys.exit(f"the session under valgrind exited with {p.returncode}")


def functions(profile, binary):
    """The functions of `binary` in a callgrind profile, in the order they appear."""
    obs, fns, out, seen = {}, {}, [], set()
    ob = cob = None
    line = re.compile(r"^(ob|cob|fn|cfn)=\((\d+)\)(?: (.*))?$")
    with open(profile) as f:
        for raw in f:
            m = line.match(raw.rstrip("\n"))
            if not m:
                continue
            kind, key, name = m.groups()
            if kind in ("ob", "cob"):
                if name:
                    obs[key] = name
                if kind == "ob":
                    ob = obs[key]
                else:
                    cob = obs[key]
                continue
            if name:
                fns[key] = name
            owner = ob if kind == "fn" else (cob or ob)
            if kind == "cfn":
                cob = None
            fn = re.sub(r"'\d+$", "", fns[key])
            if owner and os.path.realpath(owner) == os.path.realpath(binary) and fn not in seen:
                seen.add(fn)
                out.append(fn)
    return out


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/airun"
    target = sys.argv[2] if len(sys.argv) > 2 else "src/startup.order"
    defined = set()
    nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True,
                        check=True).stdout
    for row in nm.splitlines():
        parts = row.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            defined.add(parts[2])
    common = [
        ("tools/list", {}),
        ("tools/call", {"name": "io_fs_read_file", "arguments": {"path": "docs/a.txt"}}),
        ("tools/call", {"name": "io_fs_write_file",
                        "arguments": {"path": "docs/b.txt", "content": "new\n"}}),
        ("tools/call", {"name": "io_fs_list_dir", "arguments": {"path": "docs"}}),
        ("tools/call", {"name": "io_fs_search", "arguments": {"path": ".", "content": "needle"}}),
        ("tools/call", {"name": "io_fs_edit_file", "arguments": {
            "path": "docs/a.txt", "edits": [{"old_text": "hello", "new_text": "hi"}]}}),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        first, second = os.path.join(tmp, "init.cg"), os.path.join(tmp, "calls.cg")
        session(binary, [], first)
        session(binary, common, second)
        order = []
        for fn in functions(first, binary) + functions(second, binary):
            if fn in defined and fn not in order:
                order.append(fn)
    with open(target, "w") as f:
        f.write(HEADER)
        f.write("\n".join(order) + "\n")
    print(f"{target}: {len(order)} functions")


if __name__ == "__main__":
    main()
