#!/usr/bin/env bash
# A client script written against the original Basic analytics server, with the requests of
# its API description (curl + jq). It runs unchanged against Ibex: tests/api/basic/test_curl.py
# points it at a live server. Usage: original_client.sh BASE_URL  (exit status 0 = all good)
set -euo pipefail
BASE=${1:?usage: $0 BASE_URL}
UA='Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT

fail() { echo "FAIL: $*" >&2; echo "last body: $(cat "$BODY")" >&2; exit 1; }
# call METHOD PATH [curl args...] -> prints the status code; the body lands in $BODY
call() {
  local method=$1 path=$2; shift 2
  curl -sS -o "$BODY" -w '%{http_code}' -X "$method" "$BASE$path" "$@"
}
expect() {  # expect STATUS JQ-FILTER (the filter must be true for the body)
  local got=$1 want=$2 filter=${3:-}
  [ "$got" = "$want" ] || fail "status $got, expected $want"
  if [ -n "$filter" ]; then jq -e "$filter" "$BODY" >/dev/null || fail "body fails: $filter"; fi
}

# --- tokens: the first one needs no credentials ------------------------------------------
expect "$(call POST /api/tokens/generate)" 200 '(.token | type == "string") and (.id | type == "number")'
TOKEN=$(jq -r .token "$BODY")
FIRST_ID=$(jq -r .id "$BODY")
AUTH=(-H "Authorization: Bearer $TOKEN")
JSON=(-H "Content-Type: application/json")
expect "$(call POST /api/tokens/generate)" 401 '. == {"error": "unauthorized"}'
expect "$(call GET /api/sites)" 401 '. == {"error": "unauthorized"}'
expect "$(call GET /api/sites -H 'Authorization: Bearer wrong')" 401 '. == {"error": "unauthorized"}'

# --- sites ---------------------------------------------------------------------------------
expect "$(call POST /api/sites "${AUTH[@]}" "${JSON[@]}" -d '{"domain": "example.com"}')" 200 \
  '.domain == "example.com" and (.id | type == "number")'
SITE_ID=$(jq -r .id "$BODY")
expect "$(call POST /api/sites "${AUTH[@]}" "${JSON[@]}" -d '{"domain": "example.com"}')" 200 \
  ".id == $SITE_ID and .domain == \"example.com\""
expect "$(call POST /api/sites "${AUTH[@]}" "${JSON[@]}" -d '{}')" 400 '. == {"error": "missing domain"}'
expect "$(call POST /api/sites "${AUTH[@]}" "${JSON[@]}" -d '{"domain": ')" 400 '. == {"error": "invalid json"}'
expect "$(call GET /api/sites "${AUTH[@]}")" 200 \
  "map(select(.domain == \"example.com\" and .id == $SITE_ID and (.created_at | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$\")))) | length == 1"

# --- the IP ignore list ---------------------------------------------------------------------
expect "$(call POST /api/ignore "${AUTH[@]}" "${JSON[@]}" -d '{"ip": "192.168.1.1"}')" 201
expect "$(call POST /api/ignore "${AUTH[@]}" "${JSON[@]}" -d '{"ip": "10.0.0.1"}')" 201
expect "$(call POST /api/ignore "${AUTH[@]}" "${JSON[@]}" -d '{"ip": "not-an-ip"}')" 400 '.error | type == "string"'
expect "$(call POST /api/ignore "${AUTH[@]}" "${JSON[@]}" -d '{}')" 400 '. == {"error": "missing ip"}'
expect "$(call GET /api/ignore "${AUTH[@]}")" 200 '. == ["192.168.1.1", "10.0.0.1"]'
expect "$(call DELETE /api/ignore/192.168.1.1 "${AUTH[@]}")" 204
expect "$(call DELETE /api/ignore/192.168.1.1 "${AUTH[@]}")" 204
expect "$(call GET /api/ignore "${AUTH[@]}")" 200 '. == ["10.0.0.1"]'

# --- more tokens ----------------------------------------------------------------------------
expect "$(call POST /api/tokens/generate "${AUTH[@]}")" 200 '.token | type == "string"'
SECOND_ID=$(jq -r .id "$BODY")
expect "$(call GET /api/tokens "${AUTH[@]}")" 200 \
  "(map(.id) | sort) == ([$FIRST_ID, $SECOND_ID] | sort) and all(.[]; has(\"token\") | not)"
expect "$(call DELETE /api/tokens/abc "${AUTH[@]}")" 400 '.error | type == "string"'
expect "$(call DELETE /api/tokens/999999 "${AUTH[@]}")" 404 '.error | type == "string"'
expect "$(call DELETE "/api/tokens/$SECOND_ID" "${AUTH[@]}")" 204
expect "$(call GET /api/tokens "${AUTH[@]}")" 200 "map(.id) == [$FIRST_ID]"

# --- tracking -------------------------------------------------------------------------------
expect "$(call OPTIONS /collect -H 'Origin: https://example.com' \
  -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type')" 204
expect "$(call POST /collect -A "$UA" -H 'Origin: https://example.com' "${JSON[@]}" \
  -d '{"path": "/page", "referrer": "https://google.com", "screen": "1920x1080"}')" 204
expect "$(call POST /collect -A "$UA" -H 'Origin: https://unknown.example' "${JSON[@]}" \
  -d '{"path": "/page"}')" 204
expect "$(call POST /collect -A "$UA" "${JSON[@]}" -d '{"path": "/page"}')" 400 '.error | type == "string"'

# --- statistics -----------------------------------------------------------------------------
for _ in $(seq 50); do  # the original answered at once; a queueing server may need a moment
  expect "$(call GET /api/stats "${AUTH[@]}")" 200 'type == "array"'
  if jq -e 'length > 0' "$BODY" >/dev/null; then break; fi
  sleep 0.1
done
expect "$(call GET /api/stats "${AUTH[@]}")" 200 \
  '. == [{"site": "example.com", "ip": "127.0.0.0", "path": "/page", "count": 1}]'
expect "$(call GET '/api/stats?verbose=true' "${AUTH[@]}")" 200 \
  'length == 1 and (.[0] | .site == "example.com" and .path == "/page" and .browser == "Chrome 120" and .os == "Windows 10" and .referrer == "https://google.com" and .country == "" and .region == "" and .city == "" and .ip == "127.0.0.0" and (.time | test("^[0-9-]{10}T[0-9:]{8}Z$")))'
expect "$(call GET '/api/stats?site=example.com&last=7d' "${AUTH[@]}")" 200 'map(.count) == [1]'
TODAY=$(date -u +%Y-%m-%d)
expect "$(call GET "/api/stats?from=$TODAY&to=$TODAY&verbose=true" "${AUTH[@]}")" 200 'length == 1'
expect "$(call GET '/api/stats?from=2020-01-01&to=2020-01-31' "${AUTH[@]}")" 200 '. == []'
expect "$(call GET '/api/stats?site=unknown.example' "${AUTH[@]}")" 404 '. == {"error": "site not found"}'
expect "$(call GET '/api/stats?from=2024-13-01&to=2024-12-31' "${AUTH[@]}")" 400 '.error | type == "string"'
expect "$(call GET '/api/stats?from=2024-02-01&to=2024-01-01' "${AUTH[@]}")" 400 '.error | type == "string"'
expect "$(call GET '/api/stats?last=forever' "${AUTH[@]}")" 400 '.error | type == "string"'

# --- cleanup --------------------------------------------------------------------------------
expect "$(call DELETE /api/sites/example.com "${AUTH[@]}")" 204
expect "$(call DELETE /api/sites/example.com "${AUTH[@]}")" 204
expect "$(call GET /api/sites "${AUTH[@]}")" 200 'map(select(.domain == "example.com")) == []'
expect "$(call DELETE "/api/tokens/$FIRST_ID" "${AUTH[@]}")" 204
expect "$(call GET /api/sites "${AUTH[@]}")" 401 '. == {"error": "unauthorized"}'
echo ok
