"""`python -m migguard.django.worker`: Django's side of `migguard db`, run in the project's Python.

Reads one JSON request on stdin (`command`: status | repair | applied), prints the answer, exits 0/1/2."""
from __future__ import annotations

import json
import sys


def main() -> int:
    try:
        request = json.loads(sys.stdin.read() or "{}")
    except json.JSONDecodeError:
        print("migguard: the worker got a request that is not JSON.", file=sys.stderr)
        return 2
    try:
        import django

        django.setup()
    except ImportError as error:
        print(f"migguard: cannot load the Django settings ({error}).", file=sys.stderr)
        return 2
    except Exception as error:
        print(f"migguard: the Django settings fail to load ({type(error).__name__}: {error}).", file=sys.stderr)
        return 2
    from migguard.django import service

    command, root = request.get("command"), request.get("root") or "."
    try:
        if command == "status":
            status, text = service.status(request.get("database"), request.get("format", "text"), root)
        elif command == "repair":
            status, text = service.repair(request.get("database"), bool(request.get("apply")), root,
                                          brief=bool(request.get("brief")),
                                          allow_delta=bool(request.get("allow_delta")))
        elif command == "prove":
            reason = service.prove(request["database"], [tuple(r) for r in request["renames"]], request["packages"], root)
            status, text = (1 if reason else 0), reason
        elif command == "applied":
            status, text = 0, json.dumps(service.applied_where([tuple(k) for k in request.get("names", [])], root))
        else:
            print(f"migguard: unknown worker command {command!r}.", file=sys.stderr)
            return 2
    except service.CannotRun as error:
        print(f"migguard: {error}", file=sys.stderr)
        return 2
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
