#!/bin/sh
# The mao demo tool.  Each run writes one data file and one control file into
# /usr/src/app/data, as every tool mao runs must: control-<sortable>.csv holds
# one number, the control metric (here: how many artefacts the run "found").
# Runs never overwrite each other's files.
#
# MAO_DEMO_JUMP=N (the mao-demo:jump image sets 3) multiplies the value by N
# from the third run on, so that the spike detector has something to find.
set -eu
cd /usr/src/app/data
runs=0
for f in control-*.csv; do [ -e "$f" ] && runs=$((runs + 1)); done
stamp=$(date -u +%Y%m%dT%H%M%SZ)-$(printf %04d "$runs")
value=$((1000 + (runs * 7) % 20))
if [ "${MAO_DEMO_JUMP:-1}" -gt 1 ] && [ "$runs" -ge 2 ]; then
    value=$((value * MAO_DEMO_JUMP))
fi
printf 'artefact,found_at\n' >"artefacts-$stamp.csv"
i=0
while [ $i -lt 3 ]; do
    printf 'example-%s-%d,%s\n' "$runs" "$i" "$stamp" >>"artefacts-$stamp.csv"
    i=$((i + 1))
done
echo "$value" >"control-$stamp.csv"
echo "mao-demo: run $((runs + 1)) found $value artefacts (control-$stamp.csv)"
