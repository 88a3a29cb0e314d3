# Runs on MicroPython: imports one unit module (tests/unit/unit_*.py)
# and calls each of its test_* functions (plain or async) in file order.
#   micropython runner.py unit_backoff [test_name ...]
# One line per test: "PASS name" or "FAIL name: <exception>", then
# "SUMMARY passed failed". The pytest side (tests/test_unit.py) reads it.
import sys

import asyncio


def _tests(module, wanted):
    names = [n for n in dir(module) if n.startswith("test_")]
    # dir() order is not file order; a module may give TESTS to fix it.
    # Every test_* function must be in it: one left out would never run.
    order = getattr(module, "TESTS", None)
    if order:
        listed = [n.__name__ for n in order]
        names = listed + ["test_ not in TESTS: " + n for n in names if n not in listed]
    return [n for n in names if not wanted or n in wanted]


def main():
    name = sys.argv[1]
    module = __import__(name)
    passed = failed = 0
    for test in _tests(module, sys.argv[2:]):
        try:
            result = getattr(module, test)()
            if result is not None and hasattr(result, "send"):
                asyncio.run(result)
                asyncio.new_event_loop()
            print("PASS", test)
            passed += 1
        except Exception as e:
            print("FAIL %s: %s %s" % (test, type(e).__name__, e))
            sys.print_exception(e)
            failed += 1
    print("SUMMARY", passed, failed)


main()
