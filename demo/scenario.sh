#!/usr/bin/env bash
# Prints the demo's attack stories as JSON Lines (event time 2026-11-24).
# Ordinary traffic comes from build/tools/gen_events; these are the stories.
n=0
ev() { # ev TS TYPE IDENTITY REST-OF-JSON
    n=$((n + 1))
    printf '{"event_id":"demo-%04d","ts":"%s","type":"%s","identity":"%s"%s}\n' "$n" "$1" "$2" "$3" "${4:+,$4}"
}
UA='Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36'

# Anna uses MitID from her own browser and phone.
ev 2026-11-24T07:58:10Z login.started anna-k "\"request_id\":\"a-1\",\"ip\":\"192.0.2.10\",\"country\":\"DK\",\"device_id\":\"br-anna\",\"user_agent\":\"$UA\",\"service_provider\":\"bank.example\""
ev 2026-11-24T07:58:31Z login.approved anna-k "\"request_id\":\"a-1\",\"authenticator_id\":\"app-anna\",\"ip\":\"10.9.0.1\",\"country\":\"DK\""
# MFA fatigue: someone with Anna's user ID starts login after login from abroad...
for i in 1 2 3 4 5 6; do
    ev "2026-11-24T10:0$i:00Z" login.started anna-k "\"request_id\":\"x-$i\",\"ip\":\"203.0.113.50\",\"country\":\"NG\",\"device_id\":\"ax-77\",\"user_agent\":\"$UA\",\"service_provider\":\"bank.example\""
done
# ...and the sixth request is approved on Anna's phone, out of fatigue.
ev 2026-11-24T10:06:40Z login.approved anna-k "\"request_id\":\"x-6\",\"authenticator_id\":\"app-anna\",\"ip\":\"10.9.0.1\",\"country\":\"DK\""
# Anna calls Citizen Service, who reactivate her the next morning.
ev 2026-11-25T09:00:00Z identity.unblocked anna-k "\"channel\":\"citizen_service\""

# Bo logs in as usual; later his user ID is changed from a device never seen before.
ev 2026-11-24T08:15:00Z login.started bo-m "\"request_id\":\"b-1\",\"ip\":\"192.0.2.20\",\"country\":\"DK\",\"device_id\":\"br-bo\",\"user_agent\":\"$UA\",\"service_provider\":\"tax.example\""
ev 2026-11-24T08:15:25Z login.approved bo-m "\"request_id\":\"b-1\",\"authenticator_id\":\"app-bo\",\"ip\":\"10.9.0.2\",\"country\":\"DK\""
ev 2026-11-24T11:02:00Z userid.changed bo-m "\"old_user_id\":\"bo1984\",\"new_user_id\":\"bo-new\",\"ip\":\"198.51.100.99\",\"device_id\":\"ax-501\",\"channel\":\"self_service\""

# Carl changes his own user ID from his own browser: nothing happens.
ev 2026-11-24T09:00:00Z login.started carl-j "\"request_id\":\"c-1\",\"ip\":\"192.0.2.30\",\"country\":\"DK\",\"device_id\":\"br-carl\",\"user_agent\":\"$UA\""
ev 2026-11-24T09:00:20Z login.approved carl-j "\"request_id\":\"c-1\",\"authenticator_id\":\"app-carl\",\"ip\":\"10.9.0.3\",\"country\":\"DK\""
ev 2026-11-24T09:05:00Z userid.changed carl-j "\"old_user_id\":\"carl\",\"new_user_id\":\"carl-j\",\"ip\":\"192.0.2.30\",\"device_id\":\"br-carl\",\"channel\":\"self_service\""
# Carl rejects a request he did not start, and reports it.
ev 2026-11-24T13:30:00Z login.rejected carl-j "\"request_id\":\"c-9\",\"authenticator_id\":\"app-carl\",\"reported\":true"

# Dina: three authenticators activated within a day.
ev 2026-11-24T12:00:00Z authenticator.activated dina-p "\"authenticator_id\":\"app-dina-2\",\"authenticator_type\":\"app\""
ev 2026-11-24T15:00:00Z authenticator.activated dina-p "\"authenticator_id\":\"code-dina\",\"authenticator_type\":\"code_display\""
ev 2026-11-24T18:00:00Z authenticator.activated dina-p "\"authenticator_id\":\"chip-dina\",\"authenticator_type\":\"chip\""

# A phishing proxy: logins for 24 people started from one address within minutes,
# by a script (its user agent gives it away: the shadow rule notices).
for i in $(seq 10 33); do
    s=$(( (i - 10) * 20 ))
    ev "$(printf '2026-11-24T14:%02d:%02dZ' $((20 + s / 60)) $((s % 60)))" login.started "victim-$i" "\"request_id\":\"p-$i\",\"ip\":\"198.51.100.23\",\"country\":\"DK\",\"user_agent\":\"python-requests/2.31\""
done
