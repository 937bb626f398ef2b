#!/usr/bin/env python3
"""Lists the specs of a Ginkgo v2 JSON report (--ginkgo.json-report) that
did not pass, with the reason each was skipped or failed, and ends with one
line `ginkgo: N passed, N failed, N skipped, N not selected`.

Used by hack/critest.sh and hack/node-conformance.sh. "Not selected" are the
specs the run's own focus/skip filters left out (critest leaves out its
benchmarks unless -benchmark; a focused run leaves out the rest): they were
never meant to run in it. "Skipped" are specs that were selected and then
skipped themselves (Skip() with a reason: no AppArmor on this host, ...).

Usage: ginkgo_report.py REPORT.json [--all] [--known FILE] [--status]
  --all lists passed specs too; --known FILE holds lines "REGEX<TAB>REASON":
  a failed spec whose name or failure message REGEX matches (re.search) is
  one that cannot pass on this host: it is listed and counted as skipped,
  with REASON and the first line of its failure. --status: exit 1 when a
  spec (or a suite node) failed otherwise, 0 when none did.
"""
import re
import json
import sys


def name(spec):
    texts = [t for t in (spec.get("ContainerHierarchyTexts") or []) if t]
    return " ".join(texts + [spec.get("LeafNodeText", "")]).strip()


def reason(spec):
    failure = spec.get("Failure") or {}
    msg = (failure.get("Message") or "").strip().splitlines()
    return msg[0][:240] if msg else ""


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    show_all = "--all" in argv[2:]
    status = "--status" in argv[2:]
    known = []
    if "--known" in argv[2:]:
        with open(argv[argv.index("--known") + 1]) as f:
            for line in f:
                if line.strip() and not line.startswith("#") and "\t" in line:
                    rx, why = line.rstrip("\n").split("\t", 1)
                    known.append((re.compile(rx), why))
    with open(argv[1]) as f:
        suites = json.load(f)
    counts = {"passed": 0, "failed": 0, "skipped": 0, "not selected": 0}
    lines = []
    for suite in suites:
        for spec in suite.get("SpecReports") or []:
            if spec.get("LeafNodeType") != "It":
                # Suite setup nodes: only their failures matter (they fail every spec).
                if spec.get("State") not in ("passed", "skipped"):
                    counts["failed"] += 1
                    lines.append(f"failed   [{spec.get('LeafNodeType')}] {reason(spec)}")
                continue
            state = spec.get("State")
            why = reason(spec)
            if state == "passed":
                counts["passed"] += 1
                if show_all:
                    lines.append(f"passed   {name(spec)}")
            elif state == "skipped" and not why:
                counts["not selected"] += 1
            elif state == "skipped":
                counts["skipped"] += 1
                lines.append(f"skipped  {name(spec)} -- {why}")
            elif state == "pending":
                counts["skipped"] += 1
                lines.append(f"skipped  {name(spec)} -- pending in the suite")
            else:
                full = (spec.get("Failure") or {}).get("Message") or ""
                env = [w for rx, w in known if rx.search(name(spec)) or rx.search(full)]
                if env:
                    counts["skipped"] += 1
                    lines.append(f"skipped  {name(spec)} -- cannot pass on this host: {env[0]} ({state}: {why})")
                    continue
                counts["failed"] += 1
                lines.append(f"{state:8s} {name(spec)} -- {why}")
    for line in lines:
        print(line)
    print("ginkgo: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 1 if status and counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
