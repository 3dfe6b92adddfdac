# pcb-merge: merging the tiny fixture with itself is quick; nothing trains.
out_suffix=.safetensors
quick=(--base "$DATA/tiny-model.safetensors" --models "$DATA/tiny-model.safetensors" "$DATA/tiny-model.safetensors"
       --method ties --density 0.5 -o @OUT@)
missing=(--base @MISSING@ --models "$DATA/tiny-model.safetensors" -o @OUT@)
