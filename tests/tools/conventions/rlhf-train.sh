# rlhf-train: two SFT steps on the tiny byte-level policy are quick; a long SFT run checkpoints and
# resumes to the same bytes.
T="$DATA/rlhf"
quick=(sft --model "$T/tiny-policy" --data "$T/add-sft.jsonl" --max-steps 2 -o @OUT@)
missing=(sft --model "$T/tiny-policy" --data @MISSING@ -o @OUT@)
long=(sft --model "$T/tiny-policy" --data "$T/add-sft.jsonl" --epochs 300 --batch-size 4 --threads 1 -o @OUT@ --checkpoint @CKPT@ --checkpoint-every 200)
