#!/usr/bin/env bash
# Checks every manifest in deploy/kubernetes against the Kubernetes API schemas
# of version $K8S_VERSION (default 1.33.0), strictly: unknown fields are errors.
#
#   deploy/kubernetes/validate.sh
#
# Uses kubernetes-validate (PyPI), installing it with pip when it is missing.
# Version 1.37.0 bundles the schemas of Kubernetes 1.x.0 up to 1.37.0,
# 1.33.0 included, as local files: validation needs no network.
# Each YAML file is validated as it is; kustomization.yaml, which is not an API
# object, is rendered with `kubectl kustomize` (when kubectl is there) and the
# result validated as a whole. driver.sh gets a `bash -n` syntax check.
#
# Prints one line per resource ("INFO <file> passed for resource ...") and
# exits 0 when all passed, 1 otherwise. A warning (e.g. no schema for a kind)
# counts as a failure.
set -uo pipefail

K8S_VERSION=${K8S_VERSION:-1.33.0}
KV_VERSION=1.37.0
PYTHON=${PYTHON:-python3}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here" || exit 1

validator_ready() { "$PYTHON" -c 'import kubernetes_validate' 2>/dev/null; }
if ! validator_ready; then
    echo "validate.sh: installing kubernetes-validate==$KV_VERSION with pip" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "kubernetes-validate==$KV_VERSION" >&2 ||
        { echo "validate.sh: pip install kubernetes-validate failed" >&2; exit 1; }
    validator_ready || { echo "validate.sh: kubernetes_validate still not importable" >&2; exit 1; }
fi

# The bundled schemas must include the requested version (or pick the newest
# bundled one not after it, which would silently validate against another API).
"$PYTHON" - "$K8S_VERSION" <<'EOF' || exit 1
import sys
import kubernetes_validate.utils as u
want = sys.argv[1]
if u.major_minor(want) not in [u.major_minor(v) for v in u.all_versions()]:
    print("validate.sh: kubernetes-validate bundles no %s schemas (it has %s ... %s)"
          % (want, u.all_versions()[0], u.all_versions()[-1]), file=sys.stderr)
    sys.exit(1)
EOF

failed=0
files=0

# Runs the validator on $1 (shown as $2); all of its lines must be INFO.
check() {
    local out status
    out=$("$PYTHON" -m kubernetes_validate --strict -k "$K8S_VERSION" "$1" 2>&1)
    status=$?
    [ -n "$out" ] && printf '%s\n' "${out//$1/$2}"
    if [ $status -ne 0 ] || [ -z "$out" ] || grep -qv '^INFO ' <<<"$out"; then
        echo "FAIL $2" >&2
        failed=1
    fi
    files=$((files + 1))
}

while IFS= read -r f; do
    f=${f#./}
    case $(basename "$f") in
        kustomization.yaml | kustomization.yml) continue ;;
    esac
    check "$f" "$f"
done < <(find . -type f \( -name '*.yaml' -o -name '*.yml' \) | LC_ALL=C sort)

if [ -f kustomization.yaml ]; then
    if command -v kubectl >/dev/null 2>&1; then
        rendered=$(mktemp --suffix=.yaml)
        if kubectl kustomize . >"$rendered" 2>"$rendered.err"; then
            check "$rendered" kustomization.yaml
        else
            cat "$rendered.err" >&2
            echo "FAIL kustomization.yaml: kubectl kustomize failed" >&2
            failed=1
        fi
        rm -f "$rendered" "$rendered.err"
    else
        echo "SKIP kustomization.yaml: kubectl not found, so its rendering is not checked"
    fi
fi

if [ -f driver.sh ]; then
    if bash -n driver.sh; then
        echo "INFO driver.sh passed bash -n"
    else
        echo "FAIL driver.sh: bash syntax" >&2
        failed=1
    fi
fi

if [ $failed -ne 0 ]; then
    echo "validate.sh: some manifests are not valid against Kubernetes $K8S_VERSION (strict)" >&2
    exit 1
fi
echo "validate.sh: $files manifest files valid against Kubernetes $K8S_VERSION (strict)"
