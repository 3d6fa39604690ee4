# tests/integration/lib.sh: a tiny assertion library for the integration scripts.
# Every check counts; the script ends with "N passed, N failed" and exits non-zero on a failure.
passed=0
failed=0

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# check DESCRIPTION COMMAND...: the command must succeed
check() {
    local what=$1; shift
    if "$@" >/tmp/sw-check.$$ 2>&1; then pass; else fail "$what"; sed 's/^/    /' /tmp/sw-check.$$ >&2; fi
}
# check_fails DESCRIPTION COMMAND...: the command must fail
check_fails() {
    local what=$1; shift
    if "$@" >/tmp/sw-check.$$ 2>&1; then fail "$what (it succeeded)"; else pass; fi
}
# check_eq DESCRIPTION GOT WANT
check_eq() {
    if [ "$2" = "$3" ]; then pass; else fail "$1: got '$2', want '$3'"; fi
}
# check_match DESCRIPTION TEXT REGEX
check_match() {
    # a here-string, not a pipe: with pipefail, grep -q quitting early would fail the printf (SIGPIPE)
    if grep -Eq -- "$3" <<<"$2"; then pass; else fail "$1: '$2' does not match /$3/"; fi
}
# require PROGRAM PACKAGE: a missing consumer fails the run loudly, never skips
require() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "FAIL: $1 is required (Debian package $2); run scripts/setup-deps --test" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
}
finish() {
    rm -f /tmp/sw-check.$$
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
# json FILE PYTHON-EXPR: evaluate an expression over the parsed JSON document `j`
json() {
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
