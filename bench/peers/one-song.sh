#!/usr/bin/env bash
# One song the way a user scripts it by hand against the API with curl and jq:
# submit it (retrying on 429), poll its clips every $POLL_SECONDS until both
# are complete, then download both MP3s. The benchmark's two peers run it one
# song at a time with WAIT_AUDIO=true (the seed page's own examples) and eight
# at a time through `xargs -P 8` with WAIT_AUDIO=false.
#
# Usage: one-song.sh N   (N: line of $SONGS, 1-based)
# Environment: SONGS (JSON lines: one generate payload per song), OUT (folder),
#   BASE_URL, AUTH_HEADER_FILE (a chmod 600 file holding the Authorization
#   header, so the key is never on a command line), POLL_SECONDS, WAIT_AUDIO.
set -euo pipefail
n="$1"
payload="$(sed -n "${n}p" "$SONGS" | jq -c --argjson wait "$WAIT_AUDIO" '. + {wait_audio: $wait}')"
submitted="$OUT/$n.submit.json"
while :; do
  code="$(curl -sS -o "$submitted" -w '%{http_code}' -H @"$AUTH_HEADER_FILE" \
    -H 'Content-Type: application/json' --data-binary "$payload" "$BASE_URL/generate/custom-mode")"
  [[ "$code" == 2* ]] && break
  if [[ "$code" != 429 ]]; then echo "song $n: submit answered HTTP $code" >&2; exit 1; fi
  sleep "$POLL_SECONDS"
done

query=""
i=0
for id in $(jq -r '.[].id' "$submitted"); do
  query+="ids%5B$i%5D=$id&"
  i=$((i + 1))
done
polled="$OUT/$n.poll.json"
while :; do
  code="$(curl -sS -o "$polled" -w '%{http_code}' -H @"$AUTH_HEADER_FILE" "$BASE_URL/?${query%&}")"
  if [[ "$code" == 2* ]] && [[ "$(jq '[.[] | select(.status == "complete")] | length' "$polled")" == "$i" ]]; then
    break
  fi
  sleep "$POLL_SECONDS"
done

jq -r '.[] | "\(.id) \(.audio_url)"' "$polled" | while read -r id url; do
  curl -sS -f -o "$OUT/$id.mp3" "$url"
done
