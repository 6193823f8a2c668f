#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine: installs what is
# missing, builds, starts the lock-cloud emulator with the sample locks and
# captures, runs the pipeline over them, and shows each decision and what it
# did to the locks. Outputs (thumbnails, contact sheets, records, journal)
# land in out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
OUT=out/demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing missing Debian packages"
bash scripts/install-deps.sh

say "building build/lockpipe"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j "$JOBS" lockpipe lockpipe-media

rm -rf "$OUT"
mkdir -p "$OUT"
say "starting the lock-cloud emulator (samples/emulator-fixture.json)"
build/lockpipe emulator --fixture samples/emulator-fixture.json --port 0 >"$OUT/emulator.out" 2>"$OUT/emulator.log" &
EMU=$!
trap 'kill $EMU 2>/dev/null; wait $EMU 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q '^listening on ' "$OUT/emulator.out" 2>/dev/null && break
  kill -0 $EMU 2>/dev/null || { cat "$OUT/emulator.log" >&2; exit 1; }
  sleep 0.1
done
URL=$(sed -n 's/^listening on //p' "$OUT/emulator.out" | head -n 1)
[ -n "$URL" ] || { echo "the emulator did not start" >&2; cat "$OUT/emulator.log" >&2; exit 1; }
echo "emulator at $URL with $(jq '.devices | length' samples/emulator-fixture.json) locks"

# Someone with no face asks at the front door (a Wi-Fi lock: it can be refused remotely).
curl -sf -X POST --data-binary @samples/media/noface.jpg -H 'Content-Type: image/jpeg' \
  "$URL/_emulator/devices/front-door/captures?kind=unlock" >/dev/null
# Someone asks at the back gate, where no rule approves: the rules escalate to a person.
curl -sf -X POST --data-binary @samples/media/astronaut.jpg -H 'Content-Type: image/jpeg' \
  "$URL/_emulator/devices/back-gate/captures?kind=unlock" >/dev/null

say "running the pipeline: poll every lock once, decide by samples/demo/rules.toml, answer the locks"
export TUYA_CLIENT_ID=lockpipe-demo-client
export TUYA_CLIENT_SECRET=lockpipe-demo-secret-0123456789a
build/lockpipe run --config samples/demo/rules.toml --endpoint "$URL" --once \
  --journal "$OUT/journal.db"

say "a person answers the escalated request at the back gate (build/lockpipe decide)"
GATE=$(build/lockpipe journal --db "$OUT/journal.db" list --waiting --device back-gate --json |
  jq -r '.id' | head -n 1)
[ -n "$GATE" ] || { echo "no escalated request from the back gate in the journal" >&2; exit 1; }
build/lockpipe decide --config samples/demo/rules.toml --endpoint "$URL" \
  --journal "$OUT/journal.db" "$GATE" approve --by demo-operator --reason "expected visitor"

say "what the locks saw (the emulator's audit)"
for dev in front-door garden-gate room-101 back-gate; do
  curl -sf "$URL/_emulator/devices/$dev" | jq -r '
    "\(.id) (\(.type)): now \(.state | ascii_upcase)",
    (if (.audit | length) == 0 then "    no command reached it"
     else .audit[] | "    \(.endpoint)\(if .ticket_id != "" then " (ticket \(.ticket_id))" else "" end): \(.outcome)" end)'
done

say "the journal (build/lockpipe journal --db $OUT/journal.db list)"
build/lockpipe journal --db "$OUT/journal.db" list

say "done"
echo "Thumbnails and contact sheets with the face boxes: $OUT/<lock>/<event>-<kind>/"
echo "Try: build/lockpipe journal --db $OUT/journal.db show $GATE   (the decision, the person's answer, the calls)"
