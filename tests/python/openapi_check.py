"""Checks the REST API's OpenAPI document against the live server.

Usage: openapi_check.py BASE_URL TOKEN MAX_EXAMPLES

1. `openapi-spec-validator` validates the served /openapi.json (OpenAPI 3.1).
2. Schemathesis runs generated cases against every operation, with all its checks but
   `positive_data_acceptance` (a valid call may still be refused: a missing file, a
   confirmation nobody gave). A capability call that fails doing its work answers 500 with
   the execute envelope (`error.kind` execution or timeout): for the call operations the
   `not_a_server_error` check is replaced by `call_failures_are_reported`, which accepts a
   5xx only in that envelope; every other operation runs `not_a_server_error` as is.

Imported by Schemathesis as its hooks module (SCHEMATHESIS_HOOKS=openapi_check), this file
registers that check.
"""

import json
import os
import subprocess
import sys
import urllib.request

import schemathesis

CALLS = "^/capabilities/[^/]+/calls$"
# The events stream never ends: its document is validated, its stream is tested in
# tests/events.rs.
STREAM = "^/events$"


@schemathesis.check
def call_failures_are_reported(ctx, response, case):
    """A 5xx from a capability call is the call's own reported failure, never a crash."""
    if response.status_code < 500:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"a {response.status_code} answer that is not JSON")
    kind = body.get("error", {}).get("kind") if isinstance(body, dict) else None
    if body.get("status") != "error" or kind not in ("execution", "timeout", "cancelled"):
        raise AssertionError(
            f"a {response.status_code} answer that is not a call's reported failure: {body}"
        )
    return None


def fetch(url, token):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


# A refused request may also be too large (413): invalid data can be made huge.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
"""


def schemathesis_run(base, token, examples, extra):
    config = os.path.join(os.getcwd(), "schemathesis.toml")
    with open(config, "w") as f:
        f.write(CONFIG)
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        config,
        "run",
        f"{base}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(examples),
        "--seed",
        "20261202",
        "--checks",
        "all",
        "--request-timeout",
        "60",
        "--generation-database",
        "none",
    ] + extra
    env = dict(os.environ)
    env["SCHEMATHESIS_HOOKS"] = "openapi_check"
    env["PYTHONPATH"] = os.path.dirname(os.path.abspath(__file__))
    print("$", " ".join(c if "Bearer" not in c else "Authorization: Bearer ***" for c in cmd), flush=True)
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Generated bodies can be megabytes long: keep each printed line short.
    for line in done.stdout.splitlines():
        print(line if len(line) <= 400 else line[:400] + " ...", flush=True)
    return done.returncode


def main():
    base, token, examples = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from openapi_spec_validator import validate

    doc = fetch(f"{base}/openapi.json", token)
    validate(doc)
    assert doc["openapi"].startswith("3.1"), doc["openapi"]
    calls = [p for p in doc["paths"] if p.startswith("/capabilities/") and p.endswith("/calls")]
    assert calls, "the document lists no capability calls"
    for path in ("/events", "/confirmations", "/confirmations/{id}"):
        assert path in doc["paths"], f"the document does not list {path}"
    print(f"openapi-spec-validator: valid ({len(doc['paths'])} paths, {len(calls)} capability calls)")
    failed = schemathesis_run(
        base,
        token,
        examples,
        ["--exclude-checks", "positive_data_acceptance,call_failures_are_reported",
         "--exclude-path-regex", f"{CALLS}|{STREAM}"],
    )
    failed |= schemathesis_run(
        base,
        token,
        examples,
        ["--exclude-checks", "positive_data_acceptance,not_a_server_error",
         "--include-path-regex", CALLS],
    )
    if failed:
        sys.exit("Schemathesis found failures (above)")
    print("schemathesis: no failures")


if __name__ == "__main__":
    main()
