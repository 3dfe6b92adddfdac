#!/usr/bin/env bash
# Benchmark of paramkit_text's tokenizers (GPT-2, Llama 2 style, Llama 3, bytes) on a text (up to 2 MB) made
# of this repository's sources and READMEs (code and English prose): load time, encode and decode MB/s,
# a 10k-letter word and 1M spaces; against @lenml/tokenizers (the JS port of HF tokenizers that wrote
# the goldens) encoding the same text when LENML_PREFIX names its npm prefix (see tests/data/README.md).
# round_trip: decode(encode_ordinary(text)) == text; false for Llama 2 when the text holds "▁" (its
# decoder turns every ▁ into a space, as HF does). Prints JSON, also saved to bench-out/tokenize.json.
# NO_BUILD=1 skips the build.
# Usage: scripts/bench/tokenize.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${NO_BUILD:-0}" = 1 ] || ./scripts/build.sh --target bench-tokenize >/dev/null
./scripts/fetch-tokenizers.sh 2>/dev/null
mkdir -p bench-out
corpus=bench-out/tokenize-corpus.txt
# A fixed corpus: the committed sources at HEAD, in path order, cut at 2 MB.
git ls-files -z 'lib/*.cpp' 'lib/*.h' 'tools/*.cpp' '*.md' | sort -z | xargs -0 cat | head -c 2000000 > "$corpus"
rows=()
for t in data/tokenizers/gpt2 data/tokenizers/llama2 data/tokenizers/llama3 bytes; do
  row=$(build/bin/bench-tokenize "$t" "$corpus")
  if [ -n "${LENML_PREFIX:-}" ] && [ "$t" != bytes ]; then
    js=$(LENML_PREFIX=$LENML_PREFIX TOK=$t CORPUS=$corpus node --input-type=module -e '
      import { createRequire } from "node:module"; import { readFileSync } from "node:fs";
      const require = createRequire(process.env.LENML_PREFIX + "/node_modules/x.js");
      const { TokenizerLoader } = require("@lenml/tokenizers");
      const dir = process.env.TOK, text = readFileSync(process.env.CORPUS, "utf8");
      const rj = (p) => JSON.parse(readFileSync(p, "utf8"));
      let json, config;
      if (dir.endsWith("gpt2")) {
        const merges = readFileSync(dir + "/vocab.bpe", "utf8").split("\n").filter((l, i) => i > 0 && l);
        const bl = { add_prefix_space: false, trim_offsets: true, use_regex: true };
        json = { added_tokens: [{ id: 50256, content: "<|endoftext|>", special: true }], normalizer: null,
                 pre_tokenizer: { type: "ByteLevel", ...bl }, post_processor: { type: "ByteLevel", ...bl },
                 decoder: { type: "ByteLevel", ...bl },
                 model: { type: "BPE", vocab: rj(dir + "/encoder.json"), merges } };
        config = { tokenizer_class: "GPT2Tokenizer" };
      } else { json = rj(dir + "/tokenizer.json"); config = rj(dir + "/tokenizer_config.json"); }
      const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
      const t0 = performance.now(); const ids = tok.encode(text, { add_special_tokens: false }); const t1 = performance.now();
      console.log(JSON.stringify({ tokens: ids.length, encode_mb_per_s: Buffer.byteLength(text) / 1e6 / ((t1 - t0) / 1000) }));')
    row=$(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); a["lenml_js"]=json.loads(sys.argv[2]); a["same_token_count"]=a["tokens"]==a["lenml_js"]["tokens"]; print(json.dumps(a))' "$row" "$js")
  fi
  rows+=("$row")
done
out=$(printf '%s\n' "${rows[@]}" | python3 -c 'import json,sys; print(json.dumps({"benchmark":"tokenize","cores":'"$(nproc)"',"rows":[json.loads(l) for l in sys.stdin]}, indent=1))')
echo "$out" > bench-out/tokenize.json
echo "$out"
