#!/bin/sh
# A stand-in for the app's outbox poller: every two seconds it reads the messages that
# have not been sent. Without pgwait in front, this is the loop that spins on
# 'role "app" does not exist' while everybody blames the code.
set -eu

main() {
    PGPASSWORD=$(cat /run/secrets/db_password)
    export PGPASSWORD
    while :; do
        pending=$(psql --host=db --username=app --dbname=app --no-align --tuples-only \
            --command="SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL")
        echo "outbox-poller: $pending message(s) waiting to be sent"
        sleep 2
    done
}

main "$@"
