#!/usr/bin/env bash
# The README's "Use it from your language" code cannot rot: under each
# `<!-- consumer: tests/consumers/X.sh -->` marker, every line of the code
# block that follows the install block must appear, as written, in that
# consumer test, which builds and runs it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
new_project
python3 - "$REPO" >"$PROJECT/report" <<'PY'
import os, re, sys
repo = sys.argv[1]
text = open(os.path.join(repo, "README.md"), encoding="utf-8").read()
marks = list(re.finditer(r"<!-- consumer: (\S+) -->", text))
if not marks:
    print("FAIL: README.md has no <!-- consumer: ... --> markers")
for i, m in enumerate(marks):
    end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
    section = text[m.end():end]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```[\w+-]*\n(.*?)```", section, re.S)
    path = os.path.join(repo, m.group(1))
    if not blocks or not os.path.exists(path):
        print(f"FAIL: {m.group(1)}: no code block, or no such test")
        continue
    source = {line.strip() for line in open(path, encoding="utf-8")}
    missing = [l for l in blocks[-1].splitlines() if l.strip() and l.strip() not in source]
    if missing:
        print(f"FAIL: {m.group(1)}: README lines not in the test: " + " | ".join(missing[:5]))
    else:
        print(f"ok: README snippet for {m.group(1)} is the one the test runs")
PY
while IFS= read -r line; do
  case "$line" in
    ok:*) echo "$line"; CONSUMER_PASSED=$((CONSUMER_PASSED + 1)) ;;
    *) echo "$line"; CONSUMER_FAILED=$((CONSUMER_FAILED + 1)) ;;
  esac
done <"$PROJECT/report"
finish
