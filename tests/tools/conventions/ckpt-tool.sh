# ckpt-tool: inspection and conversion are quick; nothing trains.
out_suffix=.safetensors
quick=(convert "$DATA/tiny-model.safetensors" @OUT@ --dtype F16)
missing=(convert @MISSING@ @OUT@)
